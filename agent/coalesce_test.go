package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// TestCoalescerSharesOnlyLaterReads holds a read running while 50 callers
// arrive: they must share one new read, not the one running, which started
// before them.
func TestCoalescerSharesOnlyLaterReads(t *testing.T) {
	synctest.Test(t, coalescerSharesOnlyLaterReads)
}

func coalescerSharesOnlyLaterReads(t *testing.T) {
	var c coalescer[int]
	var reads atomic.Int32
	release := make(chan struct{})
	read := func(context.Context) (int, error) {
		n := int(reads.Add(1))
		if n == 1 {
			<-release
		}
		return n, nil
	}
	first := make(chan int)
	go func() {
		v, _ := c.do(context.Background(), "k", read)
		first <- v
	}()
	synctest.Wait() // the first read runs
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d reads running, want 1", n)
	}
	const callers = 50
	var wg sync.WaitGroup
	got := make([]int, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = c.do(context.Background(), "k", read)
		}()
	}
	synctest.Wait()
	checkUsers(t, &c, "k", callers+1) // all joined the pending read
	close(release)
	wg.Wait()
	if v := <-first; v != 1 {
		t.Errorf("first caller got read %d, want 1", v)
	}
	for i, v := range got {
		if v != 2 {
			t.Fatalf("caller %d got read %d, want 2 (the one after it arrived)", i, v)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("%d reads for %d callers, want 2", n, callers+1)
	}
	if len(c.keys) != 0 {
		t.Errorf("%d keys kept after the callers left", len(c.keys))
	}
}

// checkUsers checks that n callers are inside c.do for key.
func checkUsers[V any](t *testing.T, c *coalescer[V], key string, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	users := 0
	if q := c.keys[key]; q != nil {
		users = q.users
	}
	if users != n {
		t.Fatalf("%d callers for %q, want %d", users, key, n)
	}
}

func TestCoalescerErrorsAndPanics(t *testing.T) {
	synctest.Test(t, coalescerErrorsAndPanics)
}

func coalescerErrorsAndPanics(t *testing.T) {
	var c coalescer[string]
	boom := errors.New("boom")
	if _, err := c.do(context.Background(), "k", func(context.Context) (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}

	// A read is running; the next one, which will panic, has a runner and
	// a caller sharing it. The runner gets the panic, the sharer an error
	// rather than an empty result.
	release := make(chan struct{})
	go func() {
		_, _ = c.do(context.Background(), "k", func(context.Context) (string, error) { <-release; return "first", nil })
	}()
	synctest.Wait()
	checkUsers(t, &c, "k", 1)
	panicked := make(chan any)
	go func() {
		defer func() { panicked <- recover() }()
		_, _ = c.do(context.Background(), "k", func(context.Context) (string, error) { panic("read panicked") })
	}()
	synctest.Wait()
	checkUsers(t, &c, "k", 2)
	shared := make(chan error)
	go func() {
		_, err := c.do(context.Background(), "k", func(context.Context) (string, error) { return "not run", nil })
		shared <- err
	}()
	synctest.Wait()
	checkUsers(t, &c, "k", 3)
	close(release)
	if p := <-panicked; p == nil {
		t.Error("the runner's panic was swallowed")
	}
	if err := <-shared; !errors.Is(err, errReadFailed) {
		t.Errorf("sharer of a panicked read got %v, want errReadFailed", err)
	}
}

// TestCoalescerReadOutlivesCallerCancel checks that the runner's
// cancellation does not end a read others may share.
func TestCoalescerReadOutlivesCallerCancel(t *testing.T) {
	var c coalescer[bool]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	alive, err := c.do(ctx, "k", func(ctx context.Context) (bool, error) { return ctx.Err() == nil, nil })
	if err != nil || !alive {
		t.Errorf("read saw a cancelled context (alive %v, err %v)", alive, err)
	}
}
