package ws

import (
	"slices"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/tpm2"
)

// tpmRig is a software TPM with the tokens "interop" and "second", which
// tpm2-pkcs11 gives one serial number, and an agent over it.
func tpmRig(t *testing.T) (*tpm2.TPM, *moduleRig) {
	t.Helper()
	p := tpm2.New(t)
	for _, label := range []string{"interop", "second"} {
		if err := p.InitToken(label, modSOPIN, modUserPIN); err != nil {
			t.Fatal(err)
		}
	}
	// Only now: swtpm serves one process, and the agent's module holds it.
	return p, newModuleRig(t, p.Module)
}

// TestModuleTPM2 runs the module behaviours on tpm2-pkcs11, which offers
// RSA up to 3072 bits and no RSA-PSS.
func TestModuleTPM2(t *testing.T) {
	_, r := tpmRig(t)
	testModule(t, r, moduleCaps{
		label:         "interop",
		algorithms:    []string{"RSA-2048", "RSA-3072", "EC-P256", "EC-P384"},
		unsupported:   []string{"RSA-4096"},
		renewalsApart: true,
	})
}

// TestModuleTPM2Renewals checks keys.list and pending renewals on a TPM of
// their own (moduleCaps.renewalsApart says why).
func TestModuleTPM2Renewals(t *testing.T) {
	_, r := tpmRig(t)
	r.testKeysAndRenewals(t, r.tokens["interop"], []generated{r.certifiedKey(t, r.tokens["interop"], "EC-P256")})
}

// TestModuleTPM2TwoTokens checks that two tokens of one TPM, which share a
// serial number, get ids of their own, and that a call lands on the token
// its id names.
func TestModuleTPM2TwoTokens(t *testing.T) {
	_, r := tpmRig(t)
	interop, second := r.tokens["interop"], r.tokens["second"]
	if interop == "" || second == "" || interop == second {
		t.Fatalf("tokens %v: want interop and second with ids of their own", r.tokens)
	}
	gen := r.c.result("keys.generate", map[string]any{"token": interop, "pin": modUserPIN, "algorithm": "EC-P256"})
	csr := func(tok string) rpcResponse {
		return r.c.call("csr.create", map[string]any{"token": tok, "pin": modUserPIN, "key": gen["key"],
			"subject": map[string]any{"commonName": "where"}})
	}
	wantError(t, csr(second), 1002, "OBJECT_NOT_FOUND")
	if got := csr(interop); got.Error != nil {
		t.Errorf("csr.create on the key's token: %+v", got.Error)
	}
	// Listed again, the ids are the same (that they stay across restarts
	// is token's TestTPMTokens).
	if again := r.listTokens(); len(again) != 2 || r.tokens["interop"] != interop || r.tokens["second"] != second {
		t.Errorf("ids listed again: %v, want interop %s and second %s", r.tokens, interop, second)
	}
}

// TestModuleTPM2Restarted stops the software TPM under a running agent:
// the call that meets it down fails, agent.info says the module failed,
// its tokens go and come back with the TPM, and the agent serves on
// without a restart.
func TestModuleTPM2Restarted(t *testing.T) {
	p, r := tpmRig(t)
	runAgent(t, r.agent)
	events := listen(t, r.ts.dial(t, nil))
	events.subscribe()
	tok := r.tokens["interop"]
	gen := r.c.result("keys.generate", map[string]any{"token": tok, "pin": modUserPIN, "algorithm": "EC-P256"})
	sign := func() rpcResponse {
		return r.c.call("csr.create", map[string]any{"token": tok, "pin": modUserPIN, "key": gen["key"],
			"subject": map[string]any{"commonName": "restart"}})
	}
	if got := sign(); got.Error != nil {
		t.Fatalf("before: %+v", got.Error)
	}

	p.Stop()
	wantError(t, sign(), 1041, "DEVICE_ERROR")
	module := r.c.result("agent.info", nil)["modules"].([]any)[0].(map[string]any)
	if module["state"] != "failed" || module["error"] == nil {
		t.Errorf("agent.info module with the TPM down: %v, want failed with the error", module)
	}
	removed, _ := events.waitTokens(10*time.Second, func(c tokensChanged) bool { return len(c.Removed) > 0 })
	if !slices.Contains(removed.Removed, tok) || len(removed.Removed) != 2 {
		t.Errorf("tokens.changed removed %v, want both tokens", removed.Removed)
	}

	p.Start()
	added, _ := events.waitTokens(10*time.Second, func(c tokensChanged) bool { return len(c.Added) > 0 })
	if len(added.Added) != 2 || hasLabel(added.Added, "interop")["id"] != tok {
		t.Errorf("tokens.changed added %v, want both tokens back with their ids", added.Added)
	}
	if got := sign(); got.Error != nil {
		t.Errorf("with the TPM back: %+v", got.Error)
	}
	if module := r.c.result("agent.info", nil)["modules"].([]any)[0].(map[string]any); module["state"] != "ready" || module["error"] != nil {
		t.Errorf("agent.info module with the TPM back: %v, want ready", module)
	}
}
