package ws

import (
	"strings"
	"testing"
)

// TestThrottleKinds: the SO PIN has its own count, which right user PINs
// do not reset, and the user PIN's throttle does not close pin.unlock.
func TestThrottleKinds(t *testing.T) {
	lc := newLifecycle(t, true)
	c := lc.dial("https://a.example")
	alice, bob := lc.tokens["alice"], lc.tokens["bob"]
	sign := map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "data": "eA=="}
	wrongSO := map[string]any{"token": alice, "soPin": lcWrongSO, "newPin": lcUnusedPIN}

	// Two wrong SO PINs, a right user PIN, and a third wrong SO PIN: the
	// SO PIN is throttled; the user PIN is not.
	for range 2 {
		wantError(t, c.call("pin.unlock", wrongSO), 1014, "SO_PIN_INCORRECT")
	}
	c.result("sign", sign)
	wantError(t, c.call("pin.unlock", wrongSO), 1014, "SO_PIN_INCORRECT")
	lc.shim.ClearCalls(t)
	r := c.call("pin.unlock", map[string]any{"token": alice, "soPin": lcSOPIN, "newPin": lcUserPIN})
	wantError(t, r, 1031, "RATE_LIMITED")
	if !strings.Contains(r.Error.Message, "SO PINs") {
		t.Errorf("RATE_LIMITED message %q does not say it is about the SO PIN", r.Error.Message)
	}
	if n := lc.shim.Called(t, "C_Login"); n != 0 {
		t.Errorf("%d logins while the SO PIN is throttled", n)
	}
	c.result("sign", sign)

	// Three wrong user PINs on bob: the user PIN is throttled, and the
	// person can still unlock with the SO PIN at once.
	for range 3 {
		wantError(t, c.call("keys.generate", map[string]any{"token": bob, "pin": lcWrongPIN, "algorithm": "EC-P256"}), 1010, "PIN_INCORRECT")
	}
	wantError(t, c.call("keys.generate", map[string]any{"token": bob, "pin": lcUserPIN, "algorithm": "EC-P256"}), 1031, "RATE_LIMITED")
	if got := c.result("pin.unlock", map[string]any{"token": bob, "soPin": lcSOPIN, "newPin": lcNewPIN}); got["unlocked"] != true {
		t.Errorf("pin.unlock after three wrong user PINs = %v", got)
	}
}

// TestThrottleCeiling: five origins, each a page or a local program that
// may forge its Origin (none, the agent's own two, the allowed two), one
// wrong PIN each, reach the token's ceiling: after it no call of any
// origin logs in, even with the right PIN, for up to 10 minutes.
func TestThrottleCeiling(t *testing.T) {
	lc := newLifecycle(t, true)
	alice := lc.tokens["alice"]
	origins := []string{"", "http://127.0.0.1:" + lc.ts.port, "http://localhost:" + lc.ts.port, "https://a.example", "https://b.example"}
	conns := make([]*client, len(origins))
	for i, o := range origins {
		conns[i] = lc.dial(o)
	}
	sign := func(pin string) map[string]any {
		return map[string]any{"token": alice, "pin": pin, "cert": "01", "data": "eA=="}
	}
	lc.shim.ClearCalls(t)
	for i, c := range conns {
		wantError(t, c.call("sign", sign(lcWrongPIN)), 1010, "PIN_INCORRECT")
		if n := lc.shim.Called(t, "C_Login"); n != i+1 {
			t.Fatalf("%d logins after %d wrong PINs", n, i+1)
		}
	}
	for i, c := range conns {
		r := c.call("sign", sign(lcUserPIN))
		wantError(t, r, 1031, "RATE_LIMITED")
		if s, _ := r.Error.Data["retryAfterSeconds"].(float64); s <= 60 || s > 600 {
			t.Errorf("origin %q: retryAfterSeconds %v, want the ceiling's wait (over 60, at most 600)", origins[i], r.Error.Data["retryAfterSeconds"])
		}
		if !strings.Contains(r.Error.Message, "from all origins together") {
			t.Errorf("RATE_LIMITED message %q does not say it is the token's ceiling", r.Error.Message)
		}
	}
	if n := lc.shim.Called(t, "C_Login"); n != len(origins) {
		t.Errorf("%d logins, want %d: calls past the ceiling reached the token", n, len(origins))
	}
	outcomes := map[string]int{}
	for _, line := range lc.auditLines() {
		outcomes[line["outcome"]]++
	}
	if outcomes["PIN_INCORRECT"] != 5 || outcomes["RATE_LIMITED"] != 5 {
		t.Errorf("audit outcomes %v, want 5 PIN_INCORRECT and 5 RATE_LIMITED", outcomes)
	}
}

// TestFinalTryIsThePersons: with the token on its final try, a web page's
// confirmFinalTry is refused (PIN_FINAL_TRY, confirmable false, saying
// why) without a login; the agent's own page and a local program may
// spend it.
func TestFinalTryIsThePersons(t *testing.T) {
	lc := newLifecycle(t, true)
	alice := lc.tokens["alice"]
	sign := map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "data": "eA==", "confirmFinalTry": true}
	unlock := map[string]any{"token": alice, "soPin": lcSOPIN, "newPin": lcUserPIN, "confirmFinalTry": true}
	lc.shim.Set(t, "slot_label = alice", "token_flags_set = CKF_USER_PIN_FINAL_TRY | CKF_SO_PIN_FINAL_TRY")
	page := lc.dial("https://a.example")
	for _, call := range []struct {
		method string
		params map[string]any
	}{{"sign", sign}, {"pin.unlock", unlock}} {
		lc.shim.ClearCalls(t)
		r := page.call(call.method, call.params)
		wantError(t, r, 1012, "PIN_FINAL_TRY")
		if r.Error.Data["confirmable"] != false || !strings.Contains(r.Error.Message, "a web page may not spend") {
			t.Errorf("%s from a web page: %q %v, want confirmable false and why", call.method, r.Error.Message, r.Error.Data)
		}
		if n := lc.shim.Called(t, "C_Login"); n != 0 {
			t.Errorf("%s from a web page: %d logins on the final try", call.method, n)
		}
	}
	for _, origin := range []string{"", "http://127.0.0.1:" + lc.ts.port} {
		c := lc.dial(origin)
		without := map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "data": "eA=="}
		r := c.call("sign", without)
		wantError(t, r, 1012, "PIN_FINAL_TRY")
		if r.Error.Data["confirmable"] != true {
			t.Errorf("origin %q without confirmFinalTry: data %v, want confirmable true", origin, r.Error.Data)
		}
		c.result("sign", sign)
		c.result("pin.unlock", unlock)
	}
}
