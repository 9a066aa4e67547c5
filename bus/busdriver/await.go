package busdriver

import "context"

// Await runs f, which cannot be cancelled (a client library's blocking
// dial or call), and returns its result or ctx's error, whichever comes
// first. When ctx wins, f goes on in the background and abandon, when not
// nil, receives what it returns without error: a connection nobody will
// use, to close.
func Await[T any](ctx context.Context, f func() (T, error), abandon func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		if abandon != nil {
			go func() {
				if r := <-ch; r.err == nil {
					abandon(r.v)
				}
			}()
		}
		var zero T
		return zero, ctx.Err()
	}
}
