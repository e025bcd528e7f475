package agent

import (
	"testing"
	"time"
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
