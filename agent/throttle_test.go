package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokenagent/tokenagent/token"
)

func TestThrottle(t *testing.T) {
	th := newThrottle()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := 0; i < maxWrongPINs-1; i++ {
		th.wrongPIN("https://a.example", "tok", now)
		if w := th.blocked("https://a.example", "tok", now); w != 0 {
			t.Fatalf("blocked after %d wrong PINs", i+1)
		}
	}
	th.rightPIN("https://a.example", "tok")
	th.wrongPIN("https://a.example", "tok", now)
	if w := th.blocked("https://a.example", "tok", now); w != 0 {
		t.Fatal("a right PIN did not reset the count")
	}
	th.wrongPIN("https://a.example", "tok", now)
	th.wrongPIN("https://a.example", "tok", now)
	if w := th.blocked("https://a.example", "tok", now.Add(time.Second)); w != throttlePeriod-time.Second {
		t.Errorf("wait = %v, want %v", w, throttlePeriod-time.Second)
	}
	for _, other := range []struct{ origin, token string }{{"https://b.example", "tok"}, {"local", "tok"}, {"https://a.example", "other"}} {
		if w := th.blocked(other.origin, other.token, now); w != 0 {
			t.Errorf("%v blocked by another origin's or token's wrong PINs", other)
		}
	}
	if w := th.blocked("https://a.example", "tok", now.Add(throttlePeriod)); w != 0 {
		t.Errorf("still blocked after the period: %v", w)
	}
}

// pinHW is a token whose PIN is always wrong. Like the real token layer it
// serialises calls on the token; it counts the PIN tries that reach it.
type pinHW struct {
	fakeHW
	token chan struct{} // holds a value while a call is on the token
	tries atomic.Int32
}

func (h *pinHW) ChangePIN(ctx context.Context, tokenID, oldPIN, newPIN string, confirmFinalTry bool) error {
	h.token <- struct{}{}
	defer func() { <-h.token }()
	h.tries.Add(1)
	time.Sleep(time.Millisecond) // a token takes its time (in the test's bubble), so the calls overlap
	return &token.PINError{Problem: token.PINIncorrect}
}

// auditLog records audit records.
type auditLog struct {
	mu   sync.Mutex
	recs []AuditRecord
}

func (l *auditLog) Audit(recs ...AuditRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, recs...)
}

// TestThrottleConcurrentCalls fires wrong PINs at once: only maxWrongPINs
// may reach the token, however many calls run concurrently, and another
// origin still gets its own tries.
func TestThrottleConcurrentCalls(t *testing.T) {
	synctest.Test(t, throttleConcurrentCalls)
}

func throttleConcurrentCalls(t *testing.T) {
	hw := &pinHW{token: make(chan struct{}, 1)}
	audit := &auditLog{}
	a := New(hw, Options{Audit: audit})
	hammer := func(origin string, n int) map[Kind]int {
		var mu sync.Mutex
		reasons := map[Kind]int{}
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				err := a.ChangePIN(context.Background(), Call{Origin: origin, Token: "tok", PIN: "0000"}, "1111")
				var ae *Error
				if !errors.As(err, &ae) {
					t.Errorf("error %v, want an *Error", err)
					return
				}
				mu.Lock()
				reasons[ae.Kind]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return reasons
	}
	if got := hammer("https://a.example", 100); got[PINIncorrect] != maxWrongPINs || got[RateLimited] != 100-maxWrongPINs {
		t.Errorf("100 concurrent wrong PINs: outcomes %v, want %d PIN_INCORRECT and the rest RATE_LIMITED", got, maxWrongPINs)
	}
	if n := hw.tries.Load(); n != maxWrongPINs {
		t.Errorf("%d PIN tries reached the token, want %d", n, maxWrongPINs)
	}
	if got := hammer("https://b.example", 10); got[PINIncorrect] != maxWrongPINs {
		t.Errorf("another origin: outcomes %v, want its own %d tries", got, maxWrongPINs)
	}
	if len(audit.recs) != 110 {
		t.Errorf("%d audit records for 110 calls", len(audit.recs))
	}
	if n := len(a.throttle.turns); n != 0 {
		t.Errorf("%d turns left behind after the calls", n)
	}
}

// TestThrottleTurnEndsWithContext: a call waiting for its origin's turn
// gives up when its context ends, and leaves nothing behind.
func TestThrottleTurnEndsWithContext(t *testing.T) {
	synctest.Test(t, throttleTurnEndsWithContext)
}

func throttleTurnEndsWithContext(t *testing.T) {
	th := newThrottle()
	leave, err := th.enter(context.Background(), "o", "tok")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := th.enter(ctx, "o", "tok"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a held turn: %v, want the context's error", err)
	}
	other, err := th.enter(context.Background(), "o", "other token")
	if err != nil {
		t.Fatalf("another token's turn: %v", err)
	}
	other()
	leave()
	if n := len(th.turns); n != 0 {
		t.Errorf("%d turns left behind", n)
	}
}
