package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/internal/p11shim"
	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// peakRSSBoundKB bounds the agent's peak resident set through the oversized
// calls of TestOversizedBatchIsBounded: the frames themselves are at most
// max_message_bytes (8 MiB), and reading one may hold it a few times over
// (the frame, the request's members, the params' members). The agent that
// issue 18 found wrote 2.0 GB of audit lines for one 2 MB frame and peaked
// at 2.1 GB.
const peakRSSBoundKB = 96 << 10

// TestOversizedBatchIsBounded sends sign.batch calls far beyond the bounds
// of PROTOCOL.md section 2 to the agent in a process of its own: each is
// INVALID_PARAMS, adds one line to the audit log, and the agent's peak RSS
// stays under peakRSSBoundKB.
func TestOversizedBatchIsBounded(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("alice", "12345678", "1234"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := startAgentProcess(t, "--config", agentConfig(t, dir, env.Module))
	auditPath := filepath.Join(dir, "state", "audit.log")
	c := p.dial("https://a.example")
	var tokens struct{ Tokens []struct{ ID string } }
	if r := call(t, c, request("tokens.list", map[string]any{})); r.Error != nil || json.Unmarshal(r.Result, &tokens) != nil || len(tokens.Tokens) != 1 {
		t.Fatalf("tokens.list: %+v", r)
	}
	alice := tokens.Tokens[0].ID
	before := p.peakRSS()

	items := func(n int, item string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
	}
	digest := `{"digest":"` + strings.Repeat("A", 43) + `="}`
	batch := func(token, items string) []byte {
		return []byte(`{"jsonrpc":"2.0","id":1,"method":"sign.batch","params":{"token":"` + token +
			`","pin":"1234","cert":"01","items":` + items + `}}`)
	}
	tests := []struct {
		name    string
		frame   []byte
		mention string
	}{
		{"100,000 items", batch(alice, items(100_000, digest)), "1 to 1000 entries"},
		{"1,000 items with a 1 MB token id", batch(strings.Repeat("a", 1<<20), items(1000, digest)), `"token" must be a token id`},
		{"20,000 empty items", batch(alice, items(20_000, "{}")), "1 to 1000 entries"},
		{"2,700,000 empty items, nearly 8 MiB", batch(alice, items(2_700_000, "{}")), "1 to 1000 entries"},
		{"a 7 MiB PIN", []byte(`{"jsonrpc":"2.0","id":1,"method":"sign","params":{"token":"` + alice +
			`","pin":"` + strings.Repeat("1", 7<<20) + `","cert":"01","data":"AA=="}}`), `"pin" must hold at most 1024 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := lineCount(t, auditPath)
			r := call(t, c, tt.frame)
			if r.Error == nil || r.Error.Code != -32602 || !strings.Contains(r.Error.Message, tt.mention) {
				t.Fatalf("%d bytes: %+v, want INVALID_PARAMS saying %s", len(tt.frame), r.Error, tt.mention)
			}
			if got := lineCount(t, auditPath) - lines; got != 1 {
				t.Errorf("the audit log grew by %d lines, want 1", got)
			}
			t.Logf("%d-byte frame: peak RSS %d KiB", len(tt.frame), p.peakRSS())
		})
	}
	peak := p.peakRSS()
	t.Logf("peak RSS %d KiB before the oversized calls, %d KiB after (bound %d KiB)", before, peak, peakRSSBoundKB)
	if peak > peakRSSBoundKB {
		t.Errorf("peak RSS %d KiB, over the bound of %d KiB", peak, peakRSSBoundKB)
	}
}

// TestThrottleSurvivesACrash: three wrong PINs, the agent killed as a crash
// would, and started again on the same state directory: the next call is
// RATE_LIMITED and makes no login (counted by the PKCS#11 shim).
func TestThrottleSurvivesACrash(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("alice", "12345678", "1234"); err != nil {
		t.Fatal(err)
	}
	shim := p11shim.Use(t, env.Module) // the agent processes inherit its settings
	dir := t.TempDir()
	config := agentConfig(t, dir, p11shim.Path(t))
	p := startAgentProcess(t, "--config", config)
	c := p.dial("https://a.example")
	var tokens struct{ Tokens []struct{ ID string } }
	if r := call(t, c, request("tokens.list", map[string]any{})); r.Error != nil || json.Unmarshal(r.Result, &tokens) != nil || len(tokens.Tokens) != 1 {
		t.Fatalf("tokens.list: %+v", r)
	}
	generate := func(pin string) []byte {
		return request("keys.generate", map[string]any{"token": tokens.Tokens[0].ID, "pin": pin, "algorithm": "EC-P256"})
	}
	for i := range 3 {
		if r := call(t, c, generate("0000")); r.Error == nil || r.Error.Code != 1010 {
			t.Fatalf("wrong PIN %d: %+v, want PIN_INCORRECT", i+1, r.Error)
		}
	}
	p.kill()

	shim.ClearCalls(t)
	p = startAgentProcess(t, "--config", config)
	c = p.dial("https://a.example")
	r := call(t, c, generate("1234"))
	if r.Error == nil || r.Error.Code != 1031 {
		t.Fatalf("after the crash: %+v, want RATE_LIMITED", r)
	}
	if n := shim.Called(t, "C_Login"); n != 0 {
		t.Errorf("%d logins after the restart, want none", n)
	}
	// Another origin still has what is left of the token's ceiling.
	if r := call(t, p.dial("https://b.example"), generate("1234")); r.Error != nil {
		t.Errorf("another origin after the crash: %+v", r.Error)
	}
}
