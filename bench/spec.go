package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// childEnv carries a child's spec, as JSON: a process started with it set
// is one system's node (its worker and its client), not the runner.
const childEnv = "HERALD_BENCH_CHILD"

// spec is one run of one system: where its data lives and the firings it
// must make. The runner prepares the store, then hands the spec to a child
// process that enqueues the firings and runs them.
type spec struct {
	System string `json:"system"`
	// PG is the PostgreSQL server's URL; Schema the fresh schema of this run.
	PG     string `json:"pg,omitempty"`
	Schema string `json:"schema,omitempty"`
	// SQLite is the store URL of Herald on SQLite.
	SQLite string `json:"sqlite,omitempty"`
	// Redis and RedisDB name asynq's server and database index.
	Redis   string `json:"redis,omitempty"`
	RedisDB int    `json:"redis_db,omitempty"`

	// N jobs; job i is first due at First + i*Window/N (all at First when
	// Window is 0).
	N      int           `json:"n"`
	First  time.Time     `json:"first"`
	Window time.Duration `json:"window"`
	// Occurrences is how many times each job fires, Period apart. A zero
	// Period makes one-shot jobs (Occurrences 1); a Period makes recurring
	// schedules (Herald: an RRULE), even of one occurrence.
	Occurrences int           `json:"occurrences"`
	Period      time.Duration `json:"period"`
	// WholeSeconds rounds due instants down to the second (recurring rules
	// start at a local time given to the second).
	WholeSeconds bool `json:"whole_seconds,omitempty"`

	// Workers is how many jobs River and asynq run at once; Callers how
	// many goroutines enqueue.
	Workers int `json:"workers"`
	Callers int `json:"callers"`
}

// due is job i's first due instant.
func (s spec) due(i int) time.Time {
	if s.Window <= 0 || s.N == 0 {
		return s.First
	}
	off := time.Duration(int64(i) * int64(s.Window) / int64(s.N))
	if s.WholeSeconds {
		off = off.Truncate(time.Second)
	}
	return s.First.Add(off)
}

// lastDue is the last due instant of the run.
func (s spec) lastDue() time.Time {
	return s.due(s.N - 1).Add(time.Duration(s.Occurrences-1) * s.Period)
}

// expected is how many firings the run must make.
func (s spec) expected() int { return s.N * s.Occurrences }

// occurrence tells which occurrence of job i a due instant is, or -1 when
// it is none of them.
func (s spec) occurrence(i int, due time.Time) int {
	if i < 0 || i >= s.N {
		return -1
	}
	d := due.Sub(s.due(i))
	if s.Occurrences == 1 {
		if d.Abs() < time.Microsecond {
			return 0
		}
		return -1
	}
	k := int((d + time.Microsecond) / s.Period)
	if k < 0 || k >= s.Occurrences || (d-time.Duration(k)*s.Period).Abs() >= time.Microsecond {
		return -1
	}
	return k
}

func specFromEnv() (spec, error) {
	var s spec
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &s); err != nil {
		return s, fmt.Errorf("%s: %w", childEnv, err)
	}
	return s, nil
}
