package ws

import (
	"testing"
	"time"
)

func TestRefusalLimiter(t *testing.T) {
	var l refusalLimiter
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := range refusalBurst {
		if ok, skipped := l.allow(t0.Add(time.Duration(i) * time.Millisecond)); !ok || skipped != 0 {
			t.Fatalf("refusal %d: allow = %v, %d; want true, 0", i, ok, skipped)
		}
	}
	for i := range 1000 {
		if ok, _ := l.allow(t0.Add(time.Second)); ok {
			t.Fatalf("refusal %d past the burst logged at Info", refusalBurst+i)
		}
	}
	// A new window: the first line says how many were held back.
	if ok, skipped := l.allow(t0.Add(refusalWindow)); !ok || skipped != 1000 {
		t.Errorf("first refusal of the next window: allow = %v, %d; want true, 1000", ok, skipped)
	}
	if ok, skipped := l.allow(t0.Add(refusalWindow + time.Second)); !ok || skipped != 0 {
		t.Errorf("second refusal of the next window: allow = %v, %d; want true, 0", ok, skipped)
	}
}
