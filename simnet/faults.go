package simnet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// Faults make the server misbehave the ways real servers do, so clients can
// be tested against them. They apply to every request except the control
// endpoints under /_simnet/ (or, with Path, to those under one path).
//
// In JSON (POST /_simnet/faults) durations are strings such as "250ms" or
// numbers of milliseconds:
//
//	{"latency": "200ms", "error_rate": 0.1, "error_status": 503,
//	 "fail_next": 2, "drop_next": 1, "drop_rate": 0, "retry_after": "2s",
//	 "path": "/api/v1/statuses"}
type Faults struct {
	// Latency delays every request before it is handled.
	Latency time.Duration
	// ErrorRate is the probability (0 to 1) that a request fails with
	// ErrorStatus without being handled.
	ErrorRate float64
	// ErrorStatus is the status of injected failures (default 503).
	ErrorStatus int
	// FailNext fails the next N requests with ErrorStatus, then stops.
	FailNext int
	// DropNext handles the next N requests fully (a status is created) and
	// then closes the connection without answering: the client cannot know
	// whether its request took effect.
	DropNext int
	// DropRate is the probability (0 to 1) of such a drop for any request.
	DropRate float64
	// RetryAfter, when positive, is sent as Retry-After on injected
	// failures.
	RetryAfter time.Duration
	// Path, when set, limits the faults to requests whose path starts with
	// it ("/api/v1/statuses").
	Path string
}

type faultsJSON struct {
	Latency     jsonDuration `json:"latency"`
	ErrorRate   float64      `json:"error_rate"`
	ErrorStatus int          `json:"error_status"`
	FailNext    int          `json:"fail_next"`
	DropNext    int          `json:"drop_next"`
	DropRate    float64      `json:"drop_rate"`
	RetryAfter  jsonDuration `json:"retry_after"`
	Path        string       `json:"path"`
}

// MarshalJSON writes f in the control endpoint's format.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Latency: jsonDuration(f.Latency), ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus,
		FailNext: f.FailNext, DropNext: f.DropNext, DropRate: f.DropRate,
		RetryAfter: jsonDuration(f.RetryAfter), Path: f.Path,
	})
}

// UnmarshalJSON reads f from the control endpoint's format. Unknown fields
// are refused, so a misspelt fault is not silently ignored.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	*f = Faults{
		Latency: time.Duration(w.Latency), ErrorRate: w.ErrorRate, ErrorStatus: w.ErrorStatus,
		FailNext: w.FailNext, DropNext: w.DropNext, DropRate: w.DropRate,
		RetryAfter: time.Duration(w.RetryAfter), Path: w.Path,
	}
	return nil
}

// jsonDuration is a duration written as "250ms" and read from that form or
// from a number of milliseconds.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as \"250ms\"", s)
		}
		*d = jsonDuration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("%s is not a duration: use a string such as \"250ms\" or a number of milliseconds", b)
	}
	*d = jsonDuration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// maxLatency keeps an injected delay below what would look like a hang.
const maxLatency = 5 * time.Minute

// Validate names each field that is out of range.
func (f Faults) Validate() error {
	var v errs.Fields
	if f.Latency < 0 || f.Latency > maxLatency {
		v.Add("latency", "must be between 0 and %s", maxLatency)
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 || math.IsNaN(f.ErrorRate) {
		v.Add("error_rate", "must be between 0 and 1")
	}
	if f.DropRate < 0 || f.DropRate > 1 || math.IsNaN(f.DropRate) {
		v.Add("drop_rate", "must be between 0 and 1")
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599) {
		v.Add("error_status", "must be an HTTP error status (400 to 599)")
	}
	if f.FailNext < 0 {
		v.Add("fail_next", "must not be negative")
	}
	if f.DropNext < 0 {
		v.Add("drop_next", "must not be negative")
	}
	if f.RetryAfter < 0 {
		v.Add("retry_after", "must not be negative")
	}
	if f.Path != "" && !strings.HasPrefix(f.Path, "/") {
		v.Add("path", "must start with /")
	}
	return v.Err()
}

// SetFaults replaces the faults in force; the zero Faults turns them all
// off. Invalid faults are refused with an errs.Fields error and change
// nothing.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faultsMu.Lock()
	s.faults = f
	s.faultsMu.Unlock()
	return nil
}

// Faults returns the faults in force, with FailNext and DropNext counting
// what is left.
func (s *Server) Faults() Faults {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	return s.faults
}

type faultPlan struct {
	latency    time.Duration
	fail       bool
	status     int
	retryAfter time.Duration
	drop       bool
}

// plan decides, once per request, what goes wrong with it.
func (s *Server) plan(path string) faultPlan {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	f := &s.faults
	if f.Path != "" && !strings.HasPrefix(path, f.Path) {
		return faultPlan{}
	}
	p := faultPlan{latency: f.Latency, status: f.ErrorStatus, retryAfter: f.RetryAfter}
	if p.status == 0 {
		p.status = http.StatusServiceUnavailable
	}
	switch {
	case f.FailNext > 0:
		f.FailNext--
		p.fail = true
	case f.ErrorRate > 0 && rand.Float64() < f.ErrorRate:
		p.fail = true
	case f.DropNext > 0:
		f.DropNext--
		p.drop = true
	case f.DropRate > 0 && rand.Float64() < f.DropRate:
		p.drop = true
	}
	return p
}

func (s *Server) serveWithFaults(w http.ResponseWriter, r *http.Request, next http.Handler) {
	p := s.plan(r.URL.Path)
	if p.latency > 0 {
		// The server notices a client hanging up only once the request
		// body has been read, so read a small one now: a client that gives
		// up during the delay then cancels r's context and frees the
		// handler.
		if r.ContentLength >= 0 && r.ContentLength <= maxFormBytes {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		t := time.NewTimer(p.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if p.fail {
		s.stats.faults.Add(1)
		if p.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(p.retryAfter.Seconds()))))
		}
		writeError(w, p.status, "simnet: injected fault")
		return
	}
	if !p.drop {
		next.ServeHTTP(w, r)
		return
	}
	// Do the work, throw the answer away, and hang up.
	next.ServeHTTP(&discardWriter{header: http.Header{}}, r)
	s.stats.faults.Add(1)
	s.stats.drops.Add(1)
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	// HTTP/2 cannot hijack; aborting the handler resets the stream instead.
	panic(http.ErrAbortHandler)
}

type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
