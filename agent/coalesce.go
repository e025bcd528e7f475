package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// coalescer lets concurrent reads of the same thing share one trip to the
// token: a thousand pages calling tokens.list at once cost one listing, not
// a thousand, each waiting for the one before. A caller only ever shares a
// read that starts after it arrived, so it never gets an answer older than
// its own call (a page that imported a certificate and then lists sees it).
// It is safe for concurrent use; entries live only while callers use them,
// so keys made up by callers do not pile up.
type coalescer[V any] struct {
	mu   sync.Mutex
	keys map[string]*readQueue[V]
}

// readQueue is one key's reads: at most one running, and one pending that
// callers arriving meanwhile join.
type readQueue[V any] struct {
	run     chan struct{} // holds a value while a read runs; a channel so that waiting for it can give up
	pending *sharedRead[V]
	users   int // callers inside do, guarded by coalescer.mu
}

// sharedRead is one read and its result, set before done is closed. The
// caller that made it pending runs it; should that caller's context end
// before it could start, vacant is closed, and one of the callers sharing
// it runs it instead (with its own read function: a read that starts then
// still starts after each of them arrived).
type sharedRead[V any] struct {
	done   chan struct{}
	vacant chan struct{} // guarded by coalescer.mu; replaced when a caller takes the read over
	value  V
	err    error
}

// errReadFailed is what callers sharing a read get when it panicked; the
// caller that ran it gets the panic.
var errReadFailed = errors.New("the shared read failed")

// do returns the result of read for key, run by this caller or shared with
// others who came for the same key before it started. read gets a context
// that the caller's cancellation does not end, as it answers others too;
// but a caller waiting for a read, its own or one it shares, gives up when
// its context ends.
func (c *coalescer[V]) do(ctx context.Context, key string, read func(context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	if c.keys == nil {
		c.keys = map[string]*readQueue[V]{}
	}
	q := c.keys[key]
	if q == nil {
		q = &readQueue[V]{run: make(chan struct{}, 1)}
		c.keys[key] = q
	}
	q.users++
	r := q.pending
	runner := r == nil
	if runner {
		r = &sharedRead[V]{done: make(chan struct{}), vacant: make(chan struct{})}
		q.pending = r
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if q.users--; q.users == 0 {
			delete(c.keys, key)
		}
	}()

	for {
		if runner {
			// A turn free now is taken whatever the context says: the
			// read answers others too, and it is not cancelled with it.
			select {
			case q.run <- struct{}{}:
				return c.run(ctx, q, r, read)
			default:
			}
			select {
			case q.run <- struct{}{}:
				return c.run(ctx, q, r, read)
			case <-ctx.Done():
				c.mu.Lock()
				close(r.vacant) // not started: let a caller sharing it run it
				c.mu.Unlock()
				var zero V
				return zero, fmt.Errorf("waiting for the reading: %w", ctx.Err())
			}
		}
		c.mu.Lock()
		vacant := r.vacant
		c.mu.Unlock()
		select {
		case <-r.done:
			return r.value, r.err
		case <-ctx.Done():
			var zero V
			return zero, fmt.Errorf("waiting for the shared reading: %w", ctx.Err())
		case <-vacant:
			c.mu.Lock()
			if r.vacant == vacant { // nobody took it over before this caller
				r.vacant, runner = make(chan struct{}), true
			}
			c.mu.Unlock()
		}
	}
}

// run runs read as r, the pending read of q, holding q's turn.
func (c *coalescer[V]) run(ctx context.Context, q *readQueue[V], r *sharedRead[V], read func(context.Context) (V, error)) (V, error) {
	defer func() { <-q.run }()
	c.mu.Lock()
	q.pending = nil // from now on, callers make the next read
	c.mu.Unlock()
	defer close(r.done)
	r.err = errReadFailed // kept only if read panics
	r.value, r.err = read(context.WithoutCancel(ctx))
	return r.value, r.err
}
