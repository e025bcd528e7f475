package ws

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/state"
)

// TestPendingRenewalsSurviveRestart starts two renewals on SoftHSM, stops
// the agent, deletes one renewal's key outside it (pkcs11-tool), and checks
// that the next agent over the same state directory still lists the other
// renewal, CSR included, drops the stale one from renewals.json, and
// completes the renewal left.
func TestPendingRenewalsSurviveRestart(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("renew", modSOPIN, modUserPIN); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(t.TempDir(), "state")
	openState := func(t *testing.T) *state.Dir {
		dir, err := state.Open(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		return dir
	}
	var kept, stale map[string]any
	var old generated
	var tok string
	t.Run("first run", func(t *testing.T) {
		r := newModuleRigWithState(t, env.Module, openState(t))
		tok = r.tokens["renew"]
		old = r.certifiedKey(t, tok, "EC-P256")
		prepare := map[string]any{"token": tok, "pin": modUserPIN, "cert": old.key}
		kept = r.c.result("renewal.prepare", prepare)
		stale = r.c.result("renewal.prepare", prepare)
		if n := len(r.c.result("renewal.pending", map[string]any{"token": tok})["pending"].([]any)); n != 2 {
			t.Fatalf("%d renewals pending, want 2", n)
		}
	})
	if t.Failed() {
		return
	}
	// Outside the agent, as a person tidying up with another tool would.
	ckaID := stale["key"].(string)
	for _, class := range []string{"privkey", "pubkey"} {
		if _, err := env.P11Tool([]string{modUserPIN}, "--token-label", "renew", "--login", "--pin", modUserPIN,
			"--delete-object", "--type", class, "--id", ckaID); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("second run", func(t *testing.T) {
		r := newModuleRigWithState(t, env.Module, openState(t))
		pending := r.c.result("renewal.pending", map[string]any{"token": tok})["pending"].([]any)
		if len(pending) != 1 {
			t.Fatalf("renewal.pending after the restart = %v, want the renewal whose key is left", pending)
		}
		rec := pending[0].(map[string]any)
		if rec["key"] != kept["key"] || rec["csr"] != kept["csr"] || rec["cert"] != old.key {
			t.Errorf("pending %v, want key %v of certificate %s with its CSR", rec, kept["key"], old.key)
		}
		data, err := openState(t).ReadFile("renewals.json")
		if err != nil {
			t.Fatal(err)
		}
		var saved []map[string]any
		if err := json.Unmarshal(data, &saved); err != nil || len(saved) != 1 || saved[0]["key"] != kept["key"] {
			t.Errorf("renewals.json = %s (%v), want only the renewal left", data, err)
		}
		issued := r.issue(kept["csr"].(string))
		done := r.c.result("renewal.complete", map[string]any{"token": tok, "pin": modUserPIN,
			"certificate": base64.StdEncoding.EncodeToString(issued.Raw), "replaces": old.key, "removeOld": true})
		if done["cert"] != kept["key"] {
			t.Errorf("renewal.complete = %v, want the new key's certificate %v", done, kept["key"])
		}
		if pending := r.c.result("renewal.pending", map[string]any{"token": tok})["pending"].([]any); len(pending) != 0 {
			t.Errorf("renewal.pending after the renewal completed = %v", pending)
		}
		wantError(t, r.c.call("renewal.pending", map[string]any{"token": unknownToken}), 1001, "TOKEN_NOT_FOUND")
	})
}
