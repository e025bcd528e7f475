package token_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/pcsctest"
	"github.com/tokenagent/tokenagent/token"
)

// These tests run the real PC/SC stack (see internal/pcsctest): pcscd, the
// vpcd driver and vicc cards. They are not parallel: pcscd is one per
// machine.

// eventBudget is how soon a card change must reach onChange.
const eventBudget = 2 * time.Second

// pcscLog logs to the test's output and counts warnings.
type pcscLog struct {
	slog.Handler
	warns *atomic.Int32
}

func (h pcscLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		h.warns.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h pcscLog) WithAttrs(as []slog.Attr) slog.Handler {
	return pcscLog{h.Handler.WithAttrs(as), h.warns}
}

func (h pcscLog) WithGroup(name string) slog.Handler {
	return pcscLog{h.Handler.WithGroup(name), h.warns}
}

// recorder keeps what onChange is told.
type recorder struct {
	mu       sync.Mutex
	states   []token.ReaderState
	changed  chan struct{}
	inFlight atomic.Int32
	overlaps atomic.Int32
}

func (r *recorder) onChange(s token.ReaderState) {
	if r.inFlight.Add(1) > 1 {
		r.overlaps.Add(1)
	}
	defer r.inFlight.Add(-1)
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// mark returns a position for waitSince: the changes told after it.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.states)
}

// waitSince waits up to timeout for a state told to onChange after mark that
// satisfies ok, and returns it with the time it took.
func (r *recorder) waitSince(t *testing.T, mark int, timeout time.Duration, what string, ok func(token.ReaderState) bool) (token.ReaderState, time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		states := r.states[mark:]
		mark = len(r.states)
		r.mu.Unlock()
		for _, s := range states {
			if ok(s) {
				return s, time.Since(start)
			}
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("onChange was not told %s within %v; last state %s", what, timeout, r.last())
		}
	}
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states) == 0 {
		return "(none)"
	}
	return describe(r.states[len(r.states)-1])
}

func describe(s token.ReaderState) string {
	if !s.Available {
		return fmt.Sprintf("unavailable (%v)", s.Err)
	}
	out := "available:"
	for _, r := range s.Readers {
		out += fmt.Sprintf(" [%q present=%v atr=%x]", r.Name, r.Present, r.ATR)
	}
	return out
}

// watch starts a watcher that Cleanup closes.
func watch(t *testing.T) (*token.PCSCWatcher, *recorder, *atomic.Int32) {
	t.Helper()
	warns := &atomic.Int32{}
	log := slog.New(pcscLog{slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}), warns})
	rec := &recorder{changed: make(chan struct{}, 1)}
	w := token.WatchPCSC(log, rec.onChange)
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if n := rec.overlaps.Load(); n > 0 {
			t.Errorf("onChange was called concurrently %d times", n)
		}
	})
	return w, rec, warns
}

func findReader(s token.ReaderState, name string) (token.Reader, bool) {
	for _, r := range s.Readers {
		if r.Name == name {
			return r, true
		}
	}
	return token.Reader{}, false
}

// cardIn tells whether s shows the vicc card in pcsctest.Reader.
func cardIn(s token.ReaderState) bool {
	r, ok := findReader(s, pcsctest.Reader)
	return s.Available && ok && r.Present && hex.EncodeToString(r.ATR) == pcsctest.ATR
}

// cardOut tells whether s shows pcsctest.Reader empty, with no ATR.
func cardOut(s token.ReaderState) bool {
	r, ok := findReader(s, pcsctest.Reader)
	return s.Available && ok && !r.Present && r.ATR == nil
}

// waitState waits for the watcher's current state, or one told later, to
// satisfy ok.
func waitState(t *testing.T, w *token.PCSCWatcher, rec *recorder, timeout time.Duration, what string, ok func(token.ReaderState) bool) token.ReaderState {
	t.Helper()
	mark := rec.mark()
	if s := w.State(); ok(s) {
		return s
	}
	s, _ := rec.waitSince(t, mark, timeout, what, ok)
	return s
}

func TestPCSCReadersAndCard(t *testing.T) {
	d := pcsctest.StartPCSCD(t)
	card := pcsctest.StartCard(t, d)
	w, rec, _ := watch(t)

	s := waitState(t, w, rec, 5*time.Second, "the card", cardIn)
	for i := 1; i < len(s.Readers); i++ {
		if s.Readers[i-1].Name >= s.Readers[i].Name {
			t.Errorf("readers not sorted by name: %s", describe(s))
		}
	}
	second, ok := findReader(s, pcsctest.SecondReader)
	if !ok || second.Present || second.ATR != nil {
		t.Errorf("%q: got %+v (listed: %v), want listed and empty", pcsctest.SecondReader, second, ok)
	}
	if s.Err != nil {
		t.Errorf("available state has Err %v", s.Err)
	}
	if got := w.State(); !cardIn(got) {
		t.Errorf("State() = %s, want the card", describe(got))
	}

	// State returns copies: changing one must not change the next.
	got := w.State()
	r0, _ := findReader(got, pcsctest.Reader)
	r0.ATR[0] ^= 0xff
	if !cardIn(w.State()) {
		t.Errorf("changing a returned ATR changed the watcher's state")
	}

	for round := range 2 {
		mark := rec.mark()
		card.Remove(t)
		s, took := rec.waitSince(t, mark, eventBudget, "the card's removal", cardOut)
		t.Logf("round %d: removal reached onChange in %v", round, took.Round(time.Millisecond))
		if _, ok := findReader(s, pcsctest.SecondReader); !ok {
			t.Errorf("after removal %q is not listed: %s", pcsctest.SecondReader, describe(s))
		}
		if got := w.State(); !cardOut(got) {
			t.Errorf("after removal State() = %s", describe(got))
		}

		mark = rec.mark()
		card.Insert(t)
		_, took = rec.waitSince(t, mark, eventBudget, "the card's insertion", cardIn)
		t.Logf("round %d: insertion reached onChange in %v", round, took.Round(time.Millisecond))
	}
}

func TestPCSCServiceRestart(t *testing.T) {
	d := pcsctest.StartPCSCD(t)
	card := pcsctest.StartCard(t, d)
	w, rec, warns := watch(t)
	waitState(t, w, rec, 5*time.Second, "the card", cardIn)

	for _, how := range []string{"killed", "stopped"} {
		warns.Store(0)
		mark := rec.mark()
		if how == "killed" {
			d.Kill(t)
		} else {
			d.Stop(t)
		}
		s, took := rec.waitSince(t, mark, 5*time.Second, "the service's loss",
			func(s token.ReaderState) bool { return !s.Available })
		t.Logf("pcscd %s: unavailable after %v: %v", how, took.Round(time.Millisecond), s.Err)
		if s.Err == nil || s.Readers != nil {
			t.Errorf("pcscd %s: got Err %v, Readers %v; want an error and no readers", how, s.Err, s.Readers)
		}
		if !errors.Is(s.Err, token.ErrPCSCUnavailable) {
			t.Errorf("pcscd %s: errors.Is(%v, ErrPCSCUnavailable) = false", how, s.Err)
		}
		if got := w.State(); got.Available || got.Err == nil {
			t.Errorf("pcscd %s: State() = %s, want unavailable with an error", how, describe(got))
		}

		// Down long enough for several retries (250 ms, 500 ms, 1 s).
		time.Sleep(2 * time.Second)
		mark = rec.mark()
		d.Start(t)
		card.Insert(t) // vicc ends when its pcscd does
		_, took = rec.waitSince(t, mark, 10*time.Second, "the readers again", cardIn)
		t.Logf("pcscd %s: card seen again %v after the restart", how, took.Round(time.Millisecond))
		if n := warns.Load(); n != 1 {
			t.Errorf("pcscd %s: %d warnings for one outage, want 1", how, n)
		}
	}
}

func TestPCSCStartWithoutService(t *testing.T) {
	d := pcsctest.StartPCSCD(t)
	d.Stop(t)
	w, rec, warns := watch(t)
	if s := w.State(); s.Available || !errors.Is(s.Err, token.ErrPCSCUnavailable) {
		t.Fatalf("without pcscd: State() = %s, want unavailable with ErrPCSCUnavailable", describe(s))
	}
	time.Sleep(time.Second)
	mark := rec.mark()
	d.Start(t)
	s, took := rec.waitSince(t, mark, 10*time.Second, "the readers",
		func(s token.ReaderState) bool { _, ok := findReader(s, pcsctest.Reader); return s.Available && ok })
	t.Logf("readers seen %v after pcscd started: %s", took.Round(time.Millisecond), describe(s))
	if n := warns.Load(); n != 1 {
		t.Errorf("%d warnings for one outage, want 1", n)
	}
}

// cpuTime returns the process's user plus system CPU time.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestPCSCIdleCPU(t *testing.T) {
	d := pcsctest.StartPCSCD(t)
	pcsctest.StartCard(t, d)
	w, rec, _ := watch(t)
	waitState(t, w, rec, 5*time.Second, "the card", cardIn)
	time.Sleep(500 * time.Millisecond) // let startup work settle

	const idle = 5 * time.Second
	// Generous: the race detector and a noisy CI machine cost something;
	// a watcher that spins costs seconds.
	const limit = 50 * time.Millisecond
	mark := rec.mark()
	before := cpuTime(t)
	time.Sleep(idle)
	used := cpuTime(t) - before
	t.Logf("idle watcher: %v of CPU time in %v (the whole test process)", used, idle)
	if used > limit {
		t.Errorf("idle watcher used %v of CPU in %v, want under %v", used, idle, limit)
	}
	if n := rec.mark() - mark; n != 0 {
		t.Errorf("onChange was called %d times while nothing changed", n)
	}
}

func TestPCSCClose(t *testing.T) {
	d := pcsctest.StartPCSCD(t)
	card := pcsctest.StartCard(t, d)

	check := func(t *testing.T, setup func(w *token.PCSCWatcher, rec *recorder)) {
		before := runtime.NumGoroutine()
		rec := &recorder{changed: make(chan struct{}, 1)}
		w := token.WatchPCSC(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})), rec.onChange)
		setup(w, rec)
		time.Sleep(200 * time.Millisecond) // let the watcher block
		start := time.Now()
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		took := time.Since(start)
		t.Logf("Close took %v", took)
		if took > time.Second {
			t.Errorf("Close took %v, want well under a second", took)
		}
		if err := w.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		_ = w.State() // still safe
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if after := runtime.NumGoroutine(); after > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines before WatchPCSC, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
		}
	}

	t.Run("blocked", func(t *testing.T) {
		var rec *recorder
		check(t, func(w *token.PCSCWatcher, r *recorder) {
			rec = r
			waitState(t, w, r, 5*time.Second, "the card", cardIn)
		})
		// No onChange after Close, even with something to tell.
		mark := rec.mark()
		card.Remove(t)
		time.Sleep(time.Second)
		if n := rec.mark() - mark; n != 0 {
			t.Errorf("onChange called %d times after Close", n)
		}
	})
	t.Run("service down", func(t *testing.T) {
		d.Stop(t)
		check(t, func(w *token.PCSCWatcher, _ *recorder) {
			if s := w.State(); s.Available {
				t.Fatalf("State() = %s with pcscd stopped", describe(s))
			}
		})
	})
}
