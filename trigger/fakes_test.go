package trigger

import (
	"context"
	"sync"

	"github.com/heraldhq/herald/coord"
)

// fakeCoord hands out in-process locks with growing fencing tokens. steal
// and give let a test take locks away from a holder the way an expired
// session would.
type fakeCoord struct {
	mu        sync.Mutex
	token     int64
	locks     map[string]*fakeLock
	instances map[string]coord.Instance
}

func newFakeCoord() *fakeCoord {
	return &fakeCoord{locks: map[string]*fakeLock{}, instances: map[string]coord.Instance{}}
}

func (c *fakeCoord) TryLock(_ context.Context, name, holder string) (coord.Lock, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locks[name] != nil {
		return nil, coord.ErrLocked
	}
	return c.grantLocked(name, holder), nil
}

func (c *fakeCoord) grantLocked(name, holder string) *fakeLock {
	c.token++
	l := &fakeLock{c: c, name: name, holder: holder, token: c.token, lost: make(chan struct{})}
	c.locks[name] = l
	return l
}

// steal hands every lock held by holder to thief, as if holder's session
// had expired and thief had taken the locks.
func (c *fakeCoord) steal(holder, thief string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, l := range c.locks {
		if l.holder == holder {
			close(l.lost)
			c.grantLocked(name, thief)
		}
	}
}

// give frees every lock held by holder.
func (c *fakeCoord) give(holder string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, l := range c.locks {
		if l.holder == holder {
			close(l.lost)
			delete(c.locks, name)
		}
	}
}

func (c *fakeCoord) Register(_ context.Context, in coord.Instance) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := in.Service + "/" + in.ID
	c.instances[k] = in
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.instances, k)
	}, nil
}

func (c *fakeCoord) Instances(_ context.Context, service string) ([]coord.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []coord.Instance
	for _, in := range c.instances {
		if in.Service == service {
			out = append(out, in)
		}
	}
	return out, nil
}

func (c *fakeCoord) Ping(context.Context) error { return nil }
func (c *fakeCoord) Close() error               { return nil }

type fakeLock struct {
	c      *fakeCoord
	name   string
	holder string
	token  int64
	lost   chan struct{}
}

func (l *fakeLock) Name() string          { return l.name }
func (l *fakeLock) Token() int64          { return l.token }
func (l *fakeLock) Lost() <-chan struct{} { return l.lost }

func (l *fakeLock) Unlock(context.Context) error {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if l.c.locks[l.name] == l {
		delete(l.c.locks, l.name)
		close(l.lost)
	}
	return nil
}
