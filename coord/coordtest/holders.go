package coordtest

import (
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/internal/servertest"
)

// OneHolder checks, after a disturbance (a server restart, a cut), that
// lock l of one session and another session other never both hold it:
// either l is still held, and other cannot take it, or l's Lost has closed
// and other can take the lock (at once or once the lost lock is released
// on the server, within), with a larger token. It reports which it found.
func OneHolder(t testing.TB, other coord.Coordinator, l coord.Lock, within time.Duration) (stillHeld bool) {
	t.Helper()
	lost := func() bool {
		select {
		case <-l.Lost():
			return true
		default:
			return false
		}
	}
	ctx := t.Context()
	next, err := other.TryLock(ctx, l.Name(), "other")
	switch {
	case errors.Is(err, coord.ErrLocked) && !lost():
		return true
	case errors.Is(err, coord.ErrLocked):
		servertest.Eventually(t, within, "the lost lock "+l.Name()+" is freed", func() error {
			next, err = other.TryLock(ctx, l.Name(), "other")
			return err
		})
	case err != nil:
		t.Fatalf("TryLock(%q) from another session: %v", l.Name(), err)
	}
	if !lost() {
		t.Errorf("lock %q taken by another session while its holder still claims it", l.Name())
	}
	if next.Token() <= l.Token() {
		t.Errorf("token of the next holder of %q = %d, want > %d", l.Name(), next.Token(), l.Token())
	}
	_ = next.Unlock(ctx)
	return false
}
