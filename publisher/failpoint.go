package publisher

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Failpoints exist for crash tests only. They make the process kill itself
// at a named point of the publish path, so a test can show that a death at
// the worst moment — the network has answered, the outcome is not yet
// committed — loses and doubles nothing. They are off unless enabled, and
// only herald serve enables them, from the environment variable
// FailpointEnv; a production installation never sets it.
//
// The variable holds comma-separated name:probability pairs, each the
// chance that one pass through the point kills the process:
//
//	HERALD_TEST_FAILPOINT=publisher.after_call:0.001,publisher.before_call:0.0005
//
// Points:
//   - publisher.before_call: a try holds its claim (committed in flight) and
//     is about to call the network.
//   - publisher.after_call: a network call (publish or lookup) returned,
//     and nothing of its answer is committed yet.
//
// A process killed by a failpoint first writes one line naming it to
// standard error, then dies by SIGKILL (TerminateProcess on Windows): no
// deferred function runs, no transaction commits, nothing is flushed.
const FailpointEnv = "HERALD_TEST_FAILPOINT"

// The failpoints of the publish path.
const (
	FailBeforeCall = "publisher.before_call"
	FailAfterCall  = "publisher.after_call"
)

var failpointNames = []string{FailBeforeCall, FailAfterCall}

// failpointSet is the enabled points and what a hit does.
type failpointSet struct {
	prob map[string]float64
	hit  func(name string)
}

// failpoints is nil unless EnableFailpoints ran: a pass through a point
// then costs one atomic load.
var failpoints atomic.Pointer[failpointSet]

// EnableFailpoints parses spec (the format of FailpointEnv) and arms its
// points for the whole process. An empty spec disarms them all. It is for
// crash tests: see FailpointEnv.
func EnableFailpoints(spec string) error {
	set, err := parseFailpoints(spec)
	if err != nil {
		return err
	}
	if set == nil {
		failpoints.Store(nil)
		return nil
	}
	set.hit = killSelf
	failpoints.Store(set)
	return nil
}

func parseFailpoints(spec string) (*failpointSet, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	set := &failpointSet{prob: map[string]float64{}}
	for part := range strings.SplitSeq(spec, ",") {
		name, p, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("publisher: failpoint %q: want name:probability", part)
		}
		if !slices.Contains(failpointNames, name) {
			return nil, fmt.Errorf("publisher: unknown failpoint %q (known: %s)", name, strings.Join(failpointNames, ", "))
		}
		prob, err := strconv.ParseFloat(p, 64)
		if err != nil || prob < 0 || prob > 1 {
			return nil, fmt.Errorf("publisher: failpoint %s: probability %q must be a number from 0 to 1", name, p)
		}
		set.prob[name] = prob
	}
	return set, nil
}

// failpoint passes through the named point.
func failpoint(name string) {
	set := failpoints.Load()
	if set == nil {
		return
	}
	if p := set.prob[name]; p > 0 && rand.Float64() < p {
		set.hit(name)
	}
}

// killSelf ends the process at once, the way a crash would.
func killSelf(name string) {
	fmt.Fprintf(os.Stderr, "failpoint %s: killing the process (pid %d)\n", name, os.Getpid())
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	// The signal is on its way: this goroutine must not go on to commit
	// anything meanwhile.
	time.Sleep(10 * time.Second)
	os.Exit(137)
}
