package agent

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// heldRead is a read that runs until released, counting its runs.
type heldRead struct {
	release chan struct{}
	runs    int
}

func (h *heldRead) read(context.Context) (int, error) {
	h.runs++
	<-h.release
	return h.runs, nil
}

// TestCoalescerWaitersHonourTheirContext checks that a caller waiting to
// share a reading, or for its turn to run one, gives up when its own
// context ends, and that the reading goes on for the others.
func TestCoalescerWaitersHonourTheirContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c coalescer[int]
		h := &heldRead{release: make(chan struct{})}
		results := make(chan int, 3)
		call := func(ctx context.Context) {
			v, err := c.do(ctx, "k", h.read)
			if err != nil {
				v = -1
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err = %v, want the caller's deadline", err)
				}
			}
			results <- v
		}
		go call(context.Background()) // runs read 1, held
		synctest.Wait()
		// Two callers arrive while it runs: they make and share read 2,
		// which waits for read 1. The one that made it pending has a
		// deadline; the one sharing it has none.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		go call(ctx)
		synctest.Wait()
		go call(context.Background())
		synctest.Wait()

		time.Sleep(time.Second) // the deadline passes: fake time, in the bubble
		synctest.Wait()
		if got := <-results; got != -1 {
			t.Fatalf("the caller with the deadline got %d, want its deadline's error", got)
		}
		if h.runs != 1 {
			t.Fatalf("%d reads started while the first was held, want 1", h.runs)
		}
		// The sharer takes read 2 over once read 1 is done, and runs it.
		h.release <- struct{}{}
		synctest.Wait()
		if got := <-results; got != 1 {
			t.Errorf("the first caller got read %d, want 1", got)
		}
		h.release <- struct{}{}
		if got := <-results; got != 2 {
			t.Errorf("the sharer got read %d, want 2, which started after it arrived", got)
		}
		synctest.Wait()
		if len(c.keys) != 0 {
			t.Errorf("%d keys kept after the callers left", len(c.keys))
		}
	})
}

// TestCoalescerSharerGivesUp checks that a caller sharing a running
// reading leaves at its deadline, and that the reading still answers the
// caller running it.
func TestCoalescerSharerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c coalescer[int]
		h := &heldRead{release: make(chan struct{})}
		first := make(chan int, 1)
		go func() {
			v, _ := c.do(context.Background(), "k", h.read)
			first <- v
		}()
		synctest.Wait()
		// Join read 1's successor, pending behind it: this caller made it
		// pending, and so waits for its turn.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if _, err := c.do(ctx, "k", h.read); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the deadline's", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("gave up after %v, want at its deadline (1s)", waited)
		}
		close(h.release)
		if v := <-first; v != 1 {
			t.Errorf("the running read answered %d, want 1", v)
		}
		synctest.Wait()
		if h.runs != 1 || len(c.keys) != 0 {
			t.Errorf("%d reads, %d keys: the abandoned read ran, or its key stayed", h.runs, len(c.keys))
		}
	})
}
