package ws

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/p11shim"
	"github.com/tokenagent/tokenagent/internal/pcsctest"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
)

// The fault runs drive the agent over its socket, as the daemon runs it
// (the watcher listing tokens every second), with the tokens "alice" and
// "bob" opened through the fault-injecting shim (testdata/p11shim). Faults
// are scoped to alice with slot_label, so bob shows whether one token's
// trouble reaches the others.

// faultRig is a lifecycle through the shim whose watcher runs, with a
// second connection and a key pair and certificate on bob as well, so that
// both tokens can sign.
type faultRig struct {
	*lifecycle
	c, other *client // the faulted calls go through c
	bobCert  string
}

func newFaultRig(t *testing.T) *faultRig {
	t.Helper()
	lc := newLifecycle(t, true)
	runAgent(t, lc.agent)
	r := &faultRig{lifecycle: lc, c: lc.dial(""), other: lc.dial("")}
	var pemCert string
	r.bobCert, pemCert = r.newKeyAndCert("bob", "Bob")
	r.c.result("certs.import", map[string]any{"token": lc.tokens["bob"], "pin": lcUserPIN, "certificate": pemCert})
	return r
}

// newKeyAndCert makes a key pair on the token, has the test CA certify it
// and returns the key's id and the certificate (PEM), which is not stored.
func (r *faultRig) newKeyAndCert(label, commonName string) (keyID, certPEM string) {
	r.t.Helper()
	tok := r.tokens[label]
	gen := r.c.result("keys.generate", map[string]any{"token": tok, "pin": lcUserPIN, "algorithm": "EC-P256", "label": commonName})
	csr := r.c.result("csr.create", map[string]any{"token": tok, "pin": lcUserPIN, "key": gen["key"], "subject": map[string]any{"commonName": commonName}})
	return gen["key"].(string), r.issue(csr["csr"].(string), time.Now().AddDate(1, 0, 0))
}

// signParams are a sign call's params on the token with the certificate.
func signParams(tokenID, cert string) map[string]any {
	return map[string]any{"token": tokenID, "pin": lcUserPIN, "cert": cert, "data": base64.StdEncoding.EncodeToString([]byte("fault run"))}
}

// bobServes checks, on the other connection, that bob lists its
// certificates and signs, and that the agent answers agent.info.
func (r *faultRig) bobServes() {
	r.t.Helper()
	bob := r.tokens["bob"]
	if certs := r.certificates(r.other, "bob"); certs[r.bobCert] == "" {
		r.t.Errorf("bob's certificates = %v, want %s among them", certs, r.bobCert)
	}
	r.other.result("sign", signParams(bob, r.bobCert))
	r.other.stillServes()
}

// objects lists every object on a token (private ones too) as OpenSC's
// pkcs11-tool, another process reading SoftHSM's store directly, sees it:
// one entry per object, holding everything the tool prints of it.
func (lc *lifecycle) objects(label string) []string {
	lc.t.Helper()
	var out []string
	for _, line := range strings.Split(lc.objectListing(label), "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, " ") && len(out) > 0:
			out[len(out)-1] += "\n" + line
		default:
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

// objectName names an object of objects by its class and CKA_ID, e.g.
// "Certificate 01", "Private Key 01".
func objectName(entry string) string {
	class, _, _ := strings.Cut(entry, " Object")
	id := ""
	for _, line := range strings.Split(entry, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ID:"); ok {
			id = strings.TrimSpace(v)
		}
	}
	return class + " " + id
}

// objectChanges names the objects that are in after but not in before, and
// those in before but not in after.
func objectChanges(before, after []string) (added, removed []string) {
	for _, o := range after {
		if !slices.Contains(before, o) {
			added = append(added, objectName(o))
		}
	}
	for _, o := range before {
		if !slices.Contains(after, o) {
			removed = append(removed, objectName(o))
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// pullCall is the call a pull cuts short, prepared on alice.
type pullCall struct {
	method string
	params map[string]any
	oldKey string // renewal: the replaced certificate's key id
	newKey string // renewal: the new certificate's key id
}

// prepareSign signs with alice's certificate 01.
func prepareSign(r *faultRig) pullCall {
	return pullCall{method: "sign", params: signParams(r.tokens["alice"], "01")}
}

// prepareRenewal makes a certificate on alice and starts renewing it with
// a new key, as renewal.prepare does; the call completes the renewal and
// removes the old certificate and key.
func prepareRenewal(r *faultRig) pullCall {
	alice := r.tokens["alice"]
	oldKey, oldPEM := r.newKeyAndCert("alice", "Alice renewed")
	r.c.result("certs.import", map[string]any{"token": alice, "pin": lcUserPIN, "certificate": oldPEM})
	prep := r.c.result("renewal.prepare", map[string]any{"token": alice, "pin": lcUserPIN, "cert": oldKey, "newKey": true})
	return pullCall{
		method: "renewal.complete",
		params: map[string]any{"token": alice, "pin": lcUserPIN, "replaces": oldKey, "removeOld": true,
			"certificate": r.issue(prep["csr"].(string), time.Now().AddDate(2, 0, 0))},
		oldKey: oldKey,
		newKey: prep["key"].(string),
	}
}

// prepareUnlock sets a new user PIN with the SO PIN.
func prepareUnlock(r *faultRig) pullCall {
	return pullCall{method: "pin.unlock", params: map[string]any{"token": r.tokens["alice"], "soPin": lcSOPIN, "newPin": lcNewPIN}}
}

// pullHold is how long a pulled call is held in the module before it
// fails, for the test to show that bob is served meanwhile. bob's calls
// take milliseconds; that they finish within it is not asserted.
const pullHold = 500 * time.Millisecond

// TestFaultTokenPulledMidCall pulls alice out in the middle of each call
// that writes to it or signs with it, at the PKCS#11 call where a real pull
// would be noticed: that call answers CKR_DEVICE_REMOVED (what a session
// function returns once the token is gone), and from then on the slot is
// empty (removed = 1) for a while before the token comes back. For each: the
// caller hears TOKEN_REMOVED; the token holds what it held before, or the
// documented consistent state; bob and a second connection serve during and
// after; alice serves once back; nothing leaks.
//
// "No half-written objects" for renewal.complete with removeOld: the new
// certificate is stored first, then the old certificate, the old private
// key and the old public key are destroyed, in that order. A pull stops
// that sequence between two whole objects, so what is left is the state
// before plus the new certificate minus a prefix of the sequence: never a
// certificate without its private key, and never a partly written object
// (PKCS#11 creates and destroys objects whole). A pull during the import
// itself leaves everything as it was, as the contract says.
// prepareBatch is prepareSign's call as a sign.batch of five items.
func prepareBatch(r *faultRig) pullCall {
	p := prepareSign(r)
	p.method = "sign.batch"
	item := map[string]any{"data": p.params["data"]}
	delete(p.params, "data")
	p.params["items"] = []any{item, item, item, item, item}
	return p
}

// batchOutcomes are the outcomes of the sign.batch audit lines, in order.
func batchOutcomes(r *faultRig) []string {
	var outcomes []string
	for _, line := range r.auditLines() {
		if line["method"] == "sign.batch" {
			outcomes = append(outcomes, line["outcome"])
		}
	}
	return outcomes
}

func TestFaultTokenPulledMidCall(t *testing.T) {
	tests := []struct {
		name string
		// The PKCS#11 call at which alice is pulled ("C_Login:SO" for a
		// user type), and how many such calls of the same call pass first.
		fn      string
		after   int
		prepare func(r *faultRig) pullCall
		// changes names the objects the cut-short call leaves added to
		// and removed from alice; nil: none.
		changes func(p pullCall) (added, removed []string)
		check   func(t *testing.T, r *faultRig) // more checks; nil: none
	}{
		// A pull at the login is no wrong PIN: the caller hears
		// TOKEN_REMOVED, not PIN_INCORRECT.
		{name: "sign: at the user login", fn: "C_Login:USER", prepare: prepareSign},
		{name: "sign: at C_Sign", fn: "C_Sign", prepare: prepareSign},
		{
			// One C_Sign a signature (token/direct_unix.go): after=2 lets
			// two signatures through. The items are signed one after the
			// other in one session.
			name: "sign.batch: at the third signature's C_Sign", fn: "C_Sign", after: 2,
			prepare: prepareBatch,
			// One audit line per item: the two signed, then the three not.
			check: func(t *testing.T, r *faultRig) {
				want := []string{"ok", "ok", "TOKEN_REMOVED", "TOKEN_REMOVED", "TOKEN_REMOVED"}
				if got := batchOutcomes(r); !slices.Equal(got, want) {
					t.Errorf("sign.batch audit outcomes = %v, want %v", got, want)
				}
			},
		},
		{
			name: "certs.import: at C_CreateObject", fn: "C_CreateObject",
			prepare: func(r *faultRig) pullCall {
				_, certPEM := r.newKeyAndCert("alice", "Alice imported")
				return pullCall{method: "certs.import",
					params: map[string]any{"token": r.tokens["alice"], "pin": lcUserPIN, "certificate": certPEM}}
			},
		},
		{name: "renewal.complete: at C_CreateObject of the new certificate", fn: "C_CreateObject", prepare: prepareRenewal},
		{
			name: "renewal.complete: at C_DestroyObject of the old certificate", fn: "C_DestroyObject",
			prepare: prepareRenewal,
			changes: func(p pullCall) ([]string, []string) { return []string{"Certificate " + p.newKey}, nil },
		},
		{
			name: "renewal.complete: at C_DestroyObject of the old private key", fn: "C_DestroyObject", after: 1,
			prepare: prepareRenewal,
			changes: func(p pullCall) ([]string, []string) {
				return []string{"Certificate " + p.newKey}, []string{"Certificate " + p.oldKey}
			},
		},
		{
			name: "renewal.complete: at C_DestroyObject of the old public key", fn: "C_DestroyObject", after: 2,
			prepare: prepareRenewal,
			changes: func(p pullCall) ([]string, []string) {
				return []string{"Certificate " + p.newKey}, []string{"Certificate " + p.oldKey, "Private Key " + p.oldKey}
			},
		},
		// The user PIN stays the old one: objects lists alice logged in
		// with it, and alice signs with it once back.
		{name: "pin.unlock: at the SO login", fn: "C_Login:SO", prepare: prepareUnlock},
		{name: "pin.unlock: at C_InitPIN", fn: "C_InitPIN", prepare: prepareUnlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A rig of its own: each pull starts from whole tokens.
			r := newFaultRig(t)
			alice := r.tokens["alice"]
			p := tt.prepare(r)
			before := r.objects("alice")
			leaks := checkLeaks(t)

			// The call is held in the module at the moment of the pull,
			// so that bob is served while it is under way; the shim
			// decides a call's outcome before its delay, so it fails.
			r.shim.Set(t, "slot_label = alice",
				fmt.Sprintf("fail = %s CKR_DEVICE_REMOVED after=%d", tt.fn, tt.after),
				fmt.Sprintf("delay = %s %d after=%d times=1", tt.fn, pullHold.Milliseconds(), tt.after))
			r.shim.ClearCalls(t)
			id := r.c.send(p.method, p.params)
			logged, _, _ := strings.Cut(tt.fn, ":") // the log has no user type
			waitUntil(t, 10*time.Second, "the pulled "+tt.fn, func() bool { return r.shim.Called(t, logged) > tt.after })
			// The pull itself: the slot is empty from now on, so what
			// the agent does after the failed call (C_Logout,
			// C_CloseSession) meets a token that is gone, as it would.
			r.shim.Set(t, "slot_label = alice", "removed = 1")
			r.bobServes()
			wantError(t, r.c.reply(p.method, id), 1040, "TOKEN_REMOVED")
			if tt.check != nil {
				tt.check(t, r)
			}

			// Out for a while: alice is not listed, calls on it find no
			// token, bob serves on.
			if r.tokenIDs(r.other)[alice] {
				t.Errorf("tokens.list lists alice while it is out")
			}
			wantError(t, r.c.call("certs.list", map[string]any{"token": alice}), 1001, "TOKEN_NOT_FOUND")
			r.bobServes()

			// Back: it holds what it should, and serves.
			r.shim.Set(t)
			var wantAdded, wantRemoved []string
			if tt.changes != nil {
				wantAdded, wantRemoved = tt.changes(p)
			}
			added, removed := objectChanges(before, r.objects("alice"))
			if !slices.Equal(added, wantAdded) || !slices.Equal(removed, wantRemoved) {
				t.Errorf("alice's objects: added %q and removed %q, want added %q and removed %q", added, removed, wantAdded, wantRemoved)
			}
			r.c.result("sign", signParams(alice, "01"))
			r.bobServes()
			leaks()
		})
	}
}

// tokenIDs calls tokens.list on c and returns the ids.
func (lc *lifecycle) tokenIDs(c *client) map[string]bool {
	out := map[string]bool{}
	for _, tok := range c.result("tokens.list", nil)["tokens"].([]any) {
		out[tok.(map[string]any)["id"].(string)] = true
	}
	return out
}

// waitUntil polls ok until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFaultSlowToken makes alice slow, a second at its login and at each
// C_Sign (a signature is two, for the length and then the signature), like
// a card behind a slow reader. A sign on alice takes that long and
// succeeds; meanwhile everything that does not need alice's lock is
// answered before it finishes: agent.info, tokens.list, bob's certificates
// and a signature by bob from another connection; and the watcher's
// listing goes on, telling of bob's PIN flags changing. The bound is the
// order of events, not a number of milliseconds: alice's call cannot end
// before its delays have passed, and the others start once it sleeps in
// the module.
func TestFaultSlowToken(t *testing.T) {
	r := newFaultRig(t)
	alice, bob := r.tokens["alice"], r.tokens["bob"]
	events := listen(t, r.dial(""))
	events.subscribe()
	replies := listen(t, r.c)       // notes when alice's signature comes
	leaks := checkLeaks(t)          // the listeners' goroutines are counted in both
	const slowest = 2 * time.Second // the login and the C_Sign
	r.shim.Set(t, "slot_label = alice", "delay = C_Login:USER 1000", "delay = C_Sign 1000")
	r.shim.ClearCalls(t)

	start := time.Now()
	id := r.c.send("sign", signParams(alice, "01"))
	// The watcher's listings do not log in: the first C_Login is alice's.
	waitUntil(t, 10*time.Second, "C_Login for alice's sign", func() bool { return r.shim.Called(t, "C_Login") > 0 })
	others := []struct {
		method string
		params map[string]any
	}{
		{"agent.info", map[string]any{}},
		{"tokens.list", map[string]any{}},
		{"certs.list", map[string]any{"token": bob}},
		{"sign", signParams(bob, r.bobCert)},
	}
	for _, o := range others {
		began := time.Now()
		r.other.result(o.method, o.params)
		t.Logf("%s answered in %v while alice's sign was running", o.method, time.Since(began).Round(time.Millisecond))
	}
	othersDone := time.Now()
	wrong := signParams(bob, r.bobCert)
	wrong["pin"] = lcWrongPIN
	wantError(t, r.other.call("sign", wrong), 1010, "PIN_INCORRECT")
	_, event := events.waitTokens(10*time.Second, func(p tokensChanged) bool {
		tok := hasLabel(p.Changed, "bob")
		return tok != nil && tok["pin"].(map[string]any)["countLow"] == true
	})

	reply := replies.next(10*time.Second, func(m message) bool { return string(m.ID) == fmt.Sprint(id) })
	if reply.Error != nil {
		t.Fatalf("alice's sign: %s", reply.raw)
	}
	took := reply.at.Sub(start)
	t.Logf("alice's sign took %v; the others were done %v and bob's change was told %v after it began",
		took.Round(time.Millisecond), othersDone.Sub(start).Round(time.Millisecond), event.at.Sub(start).Round(time.Millisecond))
	if took < slowest {
		t.Errorf("alice's sign took %v, less than its delays (%v): were they applied?", took, slowest)
	}
	if !othersDone.Before(reply.at) {
		t.Errorf("the other calls were done %v after alice's sign began, after it ended (%v): they waited for it",
			othersDone.Sub(start), took)
	}
	if !event.at.Before(reply.at) {
		t.Errorf("bob's change was told %v after alice's sign began, after it ended (%v): the watcher waited for it",
			event.at.Sub(start), took)
	}
	r.shim.Set(t)
	leaks()
}

// TestFaultModuleFailingInitialize configures a module whose C_Initialize
// fails next to a working one: the shim, and SoftHSM loaded directly.
func TestFaultModuleFailingInitialize(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("alice", lcSOPIN, lcUserPIN); err != nil {
		t.Fatal(err)
	}
	ca, err := softhsm.NewCA("Failing module CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.AddKeyAndCert("alice", lcUserPIN, ca, softhsm.CertSpec{ID: []byte{0x01}, Label: "alice-sign"}); err != nil {
		t.Fatal(err)
	}
	// The shim forwards to a copy of SoftHSM: a library loaded twice from
	// one path is one instance, and the shim's C_Initialize and
	// C_Finalize would then be the working module's too.
	lib, err := os.ReadFile(env.Module)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), filepath.Base(env.Module))
	if err := os.WriteFile(target, lib, 0o755); err != nil {
		t.Fatal(err)
	}
	shim := p11shim.Use(t, target)
	shimPath := p11shim.Path(t)

	// serve runs the agent on the two modules, its watcher listing every
	// 200 ms, and returns a connection and alice's id in each module.
	serve := func(t *testing.T) (c *client, ids map[string]string) {
		m := token.NewManager([]string{shimPath, env.Module}, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { _ = m.Close() })
		a := agent.New(m, agent.Options{Version: "test", PollInterval: 200 * time.Millisecond})
		runAgent(t, a)
		c = startServer(t, Config{AllowNoOrigin: true}, a).dial(t, nil)
		return c, tokensByModule(c)
	}
	// wantErrors checks agent.info's modules: the shim with its
	// CKR_GENERAL_ERROR when failing, else without error, and SoftHSM
	// without error.
	wantErrors := func(t *testing.T, c *client, failing bool) {
		t.Helper()
		errs := moduleErrors(c)
		shimOK := errs[shimPath] == nil
		if failing {
			shimOK = strings.Contains(fmt.Sprint(errs[shimPath]), "CKR_GENERAL_ERROR")
		}
		if len(errs) != 2 || !shimOK || errs[env.Module] != nil {
			t.Errorf("agent.info module errors = %v; want the shim failing: %v, SoftHSM without error", errs, failing)
		}
	}

	t.Run("at load", func(t *testing.T) {
		// Everything the agent starts is gone once it is shut down.
		t.Cleanup(checkLeaks(t))
		shim.Set(t, "fail = C_Initialize CKR_GENERAL_ERROR")
		shim.ClearCalls(t)
		c, ids := serve(t)
		wantErrors(t, c, true)
		if len(ids) != 1 || ids[env.Module] == "" {
			t.Fatalf("tokens = %v, want alice in %s only", ids, env.Module)
		}
		c.result("sign", signParams(ids[env.Module], "01"))
		// A module that fails to load is tried once, when the agent
		// starts: the watcher's listings do not try it again.
		time.Sleep(time.Second)
		if n := shim.Called(t, "C_Initialize"); n != 1 {
			t.Errorf("C_Initialize called %d times, want once", n)
		}
	})

	t.Run("at re-initialisation", func(t *testing.T) {
		shim.Set(t)
		c, ids := serve(t)
		if len(ids) != 2 {
			t.Fatalf("tokens = %v, want alice in both modules", ids)
		}
		shimmed, direct := ids[shimPath], ids[env.Module]
		c.result("sign", signParams(shimmed, "01"))
		leaks := checkLeaks(t)

		// SoftHSM is re-initialised before a listing when a token was
		// made or deleted in its store, to see what other processes did:
		// with that failing, the agent tries again at every listing.
		shim.ClearCalls(t)
		shim.Set(t, "fail = C_Initialize CKR_GENERAL_ERROR")
		if err := env.InitToken("carol", lcSOPIN, lcUserPIN); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 10*time.Second, "third C_Initialize", func() bool {
			tokensByModule(c) // a listing
			return shim.Called(t, "C_Initialize") >= 3
		})
		if got := tokensByModule(c); got[shimPath] != "" || got[env.Module] != direct {
			t.Errorf("tokens while the shim fails = %v, want alice in %s only", got, env.Module)
		}
		wantError(t, c.call("certs.list", map[string]any{"token": shimmed}), 1001, "TOKEN_NOT_FOUND")
		c.result("sign", signParams(direct, "01"))
		wantErrors(t, c, true) // why the shim's tokens are gone

		shim.Set(t)
		waitUntil(t, 10*time.Second, "alice back in the shim", func() bool { return tokensByModule(c)[shimPath] == shimmed })
		wantErrors(t, c, false)
		c.result("sign", signParams(shimmed, "01"))
		leaks()
	})
}

// moduleErrors calls agent.info and returns each module's error by path.
func moduleErrors(c *client) map[string]any {
	out := map[string]any{}
	for _, m := range c.result("agent.info", map[string]any{})["modules"].([]any) {
		mm := m.(map[string]any)
		out[mm["path"].(string)] = mm["error"]
	}
	return out
}

// tokensByModule calls tokens.list and returns the id of the token alice
// by module path.
func tokensByModule(c *client) map[string]string {
	out := map[string]string{}
	for _, tok := range c.result("tokens.list", nil)["tokens"].([]any) {
		tm := tok.(map[string]any)
		if tm["label"] == "alice" {
			out[tm["module"].(string)] = tm["id"].(string)
		}
	}
	return out
}

// TestFaultPCSCDKilled kills pcscd while the agent watches PC/SC, and
// starts it again: agent.info tells PC/SC is unavailable and why while it
// is down, and has the readers again once it is back; the tokens serve
// throughout; and once the watcher is closed, with everything else, none
// of its goroutines or files is left.
func TestFaultPCSCDKilled(t *testing.T) {
	d := pcsctest.StartPCSCD(t)
	card := pcsctest.StartCard(t, d)
	t.Cleanup(checkLeaks(t)) // registered first, so it runs last
	w := token.WatchPCSC(slog.New(slog.DiscardHandler), nil)
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("closing the watcher: %v", err)
		}
	})
	lc := newLifecycle(t, false, func(o *agent.Options) { o.Readers = w })
	runAgent(t, lc.agent)
	c := lc.dial("")
	alice := lc.tokens["alice"]

	pcsc := func() map[string]any { return c.result("agent.info", map[string]any{})["pcsc"].(map[string]any) }
	readerUp := func() bool {
		p := pcsc()
		return p["available"] == true && containsString(p["readers"], pcsctest.Reader)
	}
	waitUntil(t, 10*time.Second, "PC/SC reader", readerUp)
	c.result("sign", signParams(alice, "01"))

	d.Kill(t)
	killed := time.Now()
	waitUntil(t, 10*time.Second, "PC/SC outage in agent.info", func() bool { return pcsc()["available"] == false })
	t.Logf("agent.info tells the outage %v after the kill", time.Since(killed).Round(time.Millisecond))
	if p := pcsc(); p["error"] == nil || p["error"] == "" || len(p["readers"].([]any)) != 0 {
		t.Errorf("agent.info pcsc while pcscd is down = %v, want an error and no readers", p)
	}
	// Down long enough for the watcher to retry a few times (250 ms,
	// 500 ms, 1 s), serving tokens meanwhile.
	for range 3 {
		c.result("sign", signParams(alice, "01"))
		if !lc.tokenIDs(c)[alice] {
			t.Errorf("tokens.list lacks alice while pcscd is down")
		}
		time.Sleep(500 * time.Millisecond)
	}

	started := time.Now()
	d.Start(t)
	card.Insert(t) // vicc ends with its pcscd
	waitUntil(t, 15*time.Second, "PC/SC reader after the restart", readerUp)
	t.Logf("agent.info has the reader again %v after pcscd was started (it and vicc take most of that to come up)",
		time.Since(started).Round(time.Millisecond))
	c.result("sign", signParams(alice, "01"))
}
