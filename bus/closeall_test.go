package bus_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
)

// slowSub is a subscription whose Close returns only once every one of
// its group has begun closing, or fails after a while: closed one after
// the other, they would never all begin.
type slowSub struct {
	began *sync.WaitGroup
	err   error
}

func (s *slowSub) Close() error {
	s.began.Done()
	done := make(chan struct{})
	go func() { s.began.Wait(); close(done) }()
	select {
	case <-done:
		return s.err
	case <-time.After(5 * time.Second):
		return errors.New("closed alone: the others had not begun")
	}
}

func TestCloseAllClosesAtOnce(t *testing.T) {
	var began sync.WaitGroup
	boom := errors.New("boom")
	subs := make([]bus.Subscription, 7)
	for i := range subs {
		began.Add(1)
		s := &slowSub{began: &began}
		if i == 3 {
			s.err = boom
		}
		subs[i] = s
	}
	err := bus.CloseAll(subs)
	if !errors.Is(err, boom) {
		t.Fatalf("CloseAll = %v, want the error of the one that failed (and only it)", err)
	}
	if got := err.Error(); got != "boom" {
		t.Errorf("CloseAll = %q: another subscription did not close in step with the rest", got)
	}
	if err := bus.CloseAll(nil); err != nil {
		t.Errorf("CloseAll(nil) = %v", err)
	}
}
