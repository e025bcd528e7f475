package ws

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/audit"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/p11shim"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/syncbuf"
	"github.com/tokenagent/tokenagent/token"
)

// The PINs of the lifecycle tests, right and wrong. They are long and odd
// so that a search of the logs for them cannot match anything else (a
// short "1111" can turn up in a duration).
const (
	lcUserPIN   = "731946"
	lcSOPIN     = "58203617"
	lcNewPIN    = "9081726354"
	lcWrongPIN  = "5550123987"
	lcWrongSO   = "4440987123"
	lcUnusedPIN = "6677889901"
)

// lifecycle is an agent on SoftHSM tokens "alice" (one EC-P256 key and
// certificate, id 01) and "bob" (empty), with its log and audit log kept.
type lifecycle struct {
	t      *testing.T
	env    *softhsm.Env
	ca     *softhsm.CA
	agent  *agent.Agent
	ts     *testServer
	logs   *syncbuf.Buffer // agent and server log
	audit  *syncbuf.Buffer
	tokens map[string]string // label → id
	shim   *p11shim.Control  // nil unless opened through the shim
}

// newLifecycle builds the agent; options, when given, adjust its Options.
func newLifecycle(t *testing.T, throughShim bool, options ...func(*agent.Options)) *lifecycle {
	t.Helper()
	return newLifecycleServing(t, throughShim, Config{}, options...)
}

// newLifecycleServing is newLifecycle with the server's cfg (its origins
// and logger are the lifecycle's).
func newLifecycleServing(t *testing.T, throughShim bool, cfg Config, options ...func(*agent.Options)) *lifecycle {
	t.Helper()
	env := softhsm.New(t)
	for _, label := range []string{"alice", "bob"} {
		if err := env.InitToken(label, lcSOPIN, lcUserPIN); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := softhsm.NewCA("Lifecycle CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.AddKeyAndCert("alice", lcUserPIN, ca, softhsm.CertSpec{
		KeyAlgorithm: "EC-P256", ID: []byte{0x01}, Label: "alice-sign",
		Subject: pkix.Name{CommonName: "Alice", Organization: []string{"Example"}},
	}); err != nil {
		t.Fatal(err)
	}
	lc := &lifecycle{t: t, env: env, ca: ca, logs: &syncbuf.Buffer{}, audit: &syncbuf.Buffer{}, tokens: map[string]string{}}
	module := env.Module
	if throughShim {
		lc.shim = p11shim.Use(t, env.Module)
		module = p11shim.Path(t)
	}
	log := slog.New(slog.NewTextHandler(lc.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := token.NewManager([]string{module}, log)
	t.Cleanup(func() { _ = m.Close() })
	opts := agent.Options{Version: "test", RenewBeforeDays: 30, Audit: audit.New(lc.audit, log)}
	for _, o := range options {
		o(&opts)
	}
	lc.agent = agent.New(m, opts)
	cfg.AllowNoOrigin = true
	cfg.AllowedOrigins = []string{"https://a.example", "https://b.example"}
	cfg.Logger = log
	lc.ts = startServer(t, cfg, lc.agent)
	for _, tok := range lc.dial("").result("tokens.list", nil)["tokens"].([]any) {
		tm := tok.(map[string]any)
		lc.tokens[tm["label"].(string)] = tm["id"].(string)
	}
	t.Cleanup(func() { lc.checkNoPINs() })
	return lc
}

// dial connects with the given Origin ("" for none).
func (lc *lifecycle) dial(origin string) *client {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return lc.ts.dial(lc.t, h)
}

// checkNoPINs fails the test when a PIN used in it shows in the logs.
func (lc *lifecycle) checkNoPINs() {
	for name, text := range map[string]string{"log": lc.logs.String(), "audit log": lc.audit.String()} {
		for _, pin := range []string{lcUserPIN, lcSOPIN, lcNewPIN, lcWrongPIN, lcWrongSO, lcUnusedPIN} {
			if strings.Contains(text, pin) {
				lc.t.Errorf("the %s contains the PIN %s", name, pin)
			}
		}
	}
}

// auditLines returns the audit log's records.
func (lc *lifecycle) auditLines() []map[string]string {
	var out []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(lc.audit.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]string
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			lc.t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// certificates lists a token's certificates as id → subject.
func (lc *lifecycle) certificates(c *client, label string) map[string]string {
	out := map[string]string{}
	for _, cert := range c.result("certs.list", map[string]any{"token": lc.tokens[label]})["certificates"].([]any) {
		cm := cert.(map[string]any)
		out[cm["id"].(string)] = cm["subject"].(string)
	}
	return out
}

// issue has the test CA certify a CSR and returns the certificate as PEM.
func (lc *lifecycle) issue(csrPEM string, notAfter time.Time) string {
	lc.t.Helper()
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		lc.t.Fatalf("not a PEM CSR: %q", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		lc.t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		lc.t.Fatalf("CSR signature: %v", err)
	}
	cert, err := lc.ca.Issue(csr.PublicKey, csr.Subject, time.Now().Add(-time.Minute), notAfter)
	if err != nil {
		lc.t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
}

func TestKeyGenerationCSRAndImport(t *testing.T) {
	lc := newLifecycle(t, false)
	c := lc.dial("")
	bob := lc.tokens["bob"]
	for _, alg := range []string{"RSA-2048", "EC-P256"} {
		t.Run(alg, func(t *testing.T) {
			gen := c.result("keys.generate", map[string]any{"token": bob, "pin": lcUserPIN, "algorithm": alg, "label": "k-" + alg})
			keys(t, "keys.generate", gen, "key", "publicKey")
			spki, err := base64.StdEncoding.DecodeString(gen["publicKey"].(string))
			if err != nil {
				t.Fatal(err)
			}
			pub, err := x509.ParsePKIXPublicKey(spki)
			if err != nil || string(token.AlgorithmOf(pub)) != alg {
				t.Fatalf("publicKey: %T %v", pub, err)
			}
			csr := c.result("csr.create", map[string]any{"token": bob, "pin": lcUserPIN, "key": gen["key"],
				"subject":  map[string]any{"commonName": "Bob " + alg, "organization": "Example", "country": "DE", "email": "bob@example.com"},
				"dnsNames": []string{"bob.example.com"}, "emails": []string{"bob@example.com"}})["csr"].(string)
			dir := t.TempDir()
			openssl.WriteFiles(t, dir, map[string][]byte{"req.pem": []byte(csr)})
			out, ok := openssl.Run(t, dir, "req", "-in", "req.pem", "-verify", "-noout", "-subject", "-nameopt", "RFC2253")
			// openssl req -verify exits 0 even when the signature is bad.
			if !ok || !strings.Contains(out, "verify OK") || !strings.Contains(out, "CN=Bob "+alg) || !strings.Contains(out, "O=Example") || !strings.Contains(out, "C=DE") {
				t.Fatalf("openssl req -verify: %s", out)
			}
			certPEM := lc.issue(csr, time.Now().AddDate(1, 0, 0))
			imported := c.result("certs.import", map[string]any{"token": bob, "pin": lcUserPIN, "certificate": certPEM})
			if imported["cert"] != gen["key"] {
				t.Errorf("certificate id %v, want the key's %v", imported["cert"], gen["key"])
			}
			// Again, as base64 DER this time: stored once, same id.
			block, _ := pem.Decode([]byte(certPEM))
			again := c.result("certs.import", map[string]any{"token": bob, "pin": lcUserPIN, "certificate": base64.StdEncoding.EncodeToString(block.Bytes)})
			if again["cert"] != imported["cert"] {
				t.Errorf("re-import id %v, want %v", again["cert"], imported["cert"])
			}
			if n := strings.Count(fmt.Sprint(lc.certificates(c, "bob")), "Bob "+alg); n != 1 {
				t.Errorf("certificate stored %d times", n)
			}
		})
	}
	t.Run("foreign certificate", func(t *testing.T) {
		key, err := softhsm.GenerateKey("EC-P256")
		if err != nil {
			t.Fatal(err)
		}
		cert, err := lc.ca.Issue(key.Public(), pkix.Name{CommonName: "Stranger"}, time.Now(), time.Now().AddDate(1, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		r := c.call("certs.import", map[string]any{"token": bob, "pin": lcUserPIN, "certificate": base64.StdEncoding.EncodeToString(cert.Raw)})
		wantError(t, r, 1003, "KEY_NOT_FOUND")
	})
	for _, line := range lc.auditLines() {
		if line["token"] != bob || line["serial"] == "" || line["origin"] != "local" || line["time"] == "" {
			t.Errorf("audit line %v", line)
		}
	}
}

func TestRenewal(t *testing.T) {
	lc := newLifecycle(t, false)
	c := lc.dial("")
	alice := lc.tokens["alice"]
	for _, newKey := range []bool{false, true} {
		before := lc.certificates(c, "alice")
		if len(before) != 1 {
			t.Fatalf("alice's certificates = %v, want one", before)
		}
		var oldID string
		for id := range before {
			oldID = id
		}
		prep := c.result("renewal.prepare", map[string]any{"token": alice, "pin": lcUserPIN, "cert": oldID, "newKey": newKey})
		keys(t, "renewal.prepare", prep, "key", "csr")
		if (prep["key"] == oldID) == newKey {
			t.Errorf("newKey %v: key %v, old certificate %s", newKey, prep["key"], oldID)
		}
		issued := lc.issue(prep["csr"].(string), time.Now().AddDate(2, 0, 0))
		done := c.result("renewal.complete", map[string]any{"token": alice, "pin": lcUserPIN, "certificate": issued, "replaces": oldID, "removeOld": true})
		after := lc.certificates(c, "alice")
		if len(after) != 1 || after[done["cert"].(string)] != "CN=Alice,O=Example" {
			t.Fatalf("newKey %v: certificates after renewal = %v, want only the new one with the old subject", newKey, after)
		}
	}
	// The key renewed without a new key stayed; the one replaced by a new
	// key went with its certificate: one key pair is left.
	if priv, pub := lc.keyObjects("alice"); priv != 1 || pub != 1 {
		t.Errorf("alice holds %d private and %d public keys, want one of each", priv, pub)
	}
}

// keyObjects counts a token's private and public key objects, as OpenSC's
// pkcs11-tool, an independent reader, sees them.
func (lc *lifecycle) keyObjects(label string) (private, public int) {
	lc.t.Helper()
	out := lc.objectListing(label)
	return strings.Count(out, "Private Key Object"), strings.Count(out, "Public Key Object")
}

// objectListing is pkcs11-tool's listing of every object on a token,
// logged in with the user PIN.
func (lc *lifecycle) objectListing(label string) string {
	lc.t.Helper()
	out, err := lc.env.P11Tool([]string{lcUserPIN}, "--token-label", label, "--login", "--pin", lcUserPIN, "--list-objects")
	if err != nil {
		lc.t.Fatal(err)
	}
	return out
}

// testClock is an agent's clock that a test moves on.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

func TestPINChangeWrongPINAndThrottle(t *testing.T) {
	clock := &testClock{at: time.Now()}
	lc := newLifecycle(t, false, func(o *agent.Options) { o.Now = clock.now })
	local, a, b := lc.dial(""), lc.dial("https://a.example"), lc.dial("https://b.example")
	alice := lc.tokens["alice"]
	ctx := map[string]any{"token": alice, "pin": lcWrongPIN, "algorithm": "EC-P256"}

	r := a.call("keys.generate", ctx)
	wantError(t, r, 1010, "PIN_INCORRECT")
	if r.Error.Data["countLow"] != true || r.Error.Data["finalTry"] != false {
		t.Errorf("wrong PIN data = %v; SoftHSM sets count-low after a failure", r.Error.Data)
	}
	for _, tok := range local.result("tokens.list", nil)["tokens"].([]any) {
		if tm := tok.(map[string]any); tm["id"] == alice && tm["pin"].(map[string]any)["countLow"] != true {
			t.Errorf("tokens.list pin = %v, want countLow", tm["pin"])
		}
	}
	wantError(t, a.call("sign", map[string]any{"token": alice, "pin": lcWrongPIN, "cert": "01", "data": "eA=="}), 1010, "PIN_INCORRECT")
	wantError(t, a.call("pin.change", map[string]any{"token": alice, "oldPin": lcWrongPIN, "newPin": lcUnusedPIN}), 1010, "PIN_INCORRECT")
	// Three wrong PINs from a.example: it is throttled, even with the right PIN.
	r = a.call("sign", map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "data": "eA=="})
	wantError(t, r, 1031, "RATE_LIMITED")
	if s, ok := r.Error.Data["retryAfterSeconds"].(float64); !ok || s < 1 || s > 60 {
		t.Errorf("retryAfterSeconds = %v", r.Error.Data["retryAfterSeconds"])
	}
	// Other origins are not: b.example and local programs go on.
	b.result("sign", map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "data": "eA=="})
	local.result("sign", map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "data": "eA=="})

	// A right PIN resets the count. (Later: the wrong PINs above fill
	// the token's window of wrong PINs from all origins.)
	clock.advance(10 * time.Minute)
	for i := 0; i < 2; i++ {
		wantError(t, b.call("sign", map[string]any{"token": alice, "pin": lcWrongPIN, "cert": "01", "data": "eA=="}), 1010, "PIN_INCORRECT")
	}
	b.result("sign", map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "data": "eA=="})
	wantError(t, b.call("sign", map[string]any{"token": alice, "pin": lcWrongPIN, "cert": "01", "data": "eA=="}), 1010, "PIN_INCORRECT")
	b.result("sign", map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "data": "eA=="})

	// PIN change, with the token's length rules.
	r = local.call("pin.change", map[string]any{"token": alice, "oldPin": lcUserPIN, "newPin": "12"})
	wantError(t, r, 1013, "PIN_INVALID")
	if r.Error.Data["minLen"] != float64(4) || r.Error.Data["maxLen"] != float64(255) {
		t.Errorf("PIN_INVALID data = %v", r.Error.Data)
	}
	if got := local.result("pin.change", map[string]any{"token": alice, "oldPin": lcUserPIN, "newPin": lcNewPIN}); got["changed"] != true {
		t.Errorf("pin.change = %v", got)
	}
	wantError(t, local.call("sign", map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "data": "eA=="}), 1010, "PIN_INCORRECT")
	local.result("sign", map[string]any{"token": alice, "pin": lcNewPIN, "cert": "01", "data": "eA=="})

	// Every PIN-taking call left one audit line, refused ones included.
	outcomes := map[string]int{}
	for _, line := range lc.auditLines() {
		outcomes[line["method"]+" "+line["outcome"]]++
		if line["origin"] == "" || line["serial"] == "" {
			t.Errorf("audit line %v lacks origin or serial", line)
		}
	}
	for want, n := range map[string]int{"sign RATE_LIMITED": 1, "keys.generate PIN_INCORRECT": 1, "pin.change PIN_INVALID": 1, "pin.change ok": 1} {
		if outcomes[want] != n {
			t.Errorf("audit outcome %q seen %d times, want %d (all: %v)", want, outcomes[want], n, outcomes)
		}
	}
}

func TestUnlock(t *testing.T) {
	lc := newLifecycle(t, false)
	c := lc.dial("")
	alice := lc.tokens["alice"]
	r := c.call("pin.unlock", map[string]any{"token": alice, "soPin": lcWrongSO, "newPin": lcUnusedPIN})
	wantError(t, r, 1014, "SO_PIN_INCORRECT")
	if _, ok := r.Error.Data["countLow"]; !ok {
		t.Errorf("SO_PIN_INCORRECT data = %v, want countLow and finalTry", r.Error.Data)
	}
	if got := c.result("pin.unlock", map[string]any{"token": alice, "soPin": lcSOPIN, "newPin": lcNewPIN}); got["unlocked"] != true {
		t.Errorf("pin.unlock = %v", got)
	}
	c.result("sign", map[string]any{"token": alice, "pin": lcNewPIN, "cert": "01", "data": "eA=="})
}

func TestLockedFinalTryAndFailingDevice(t *testing.T) {
	lc := newLifecycle(t, true)
	c := lc.dial("")
	alice, bob := lc.tokens["alice"], lc.tokens["bob"]
	signParams := map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "data": "eA=="}

	lc.shim.Set(t, "slot_label = alice", "token_flags_set = CKF_USER_PIN_LOCKED")
	lc.shim.ClearCalls(t)
	wantError(t, c.call("sign", signParams), 1011, "PIN_LOCKED")
	if n := lc.shim.Called(t, "C_Login"); n != 0 {
		t.Errorf("C_Login called %d times with the PIN locked", n)
	}
	// tokens.list tells the page, so it can offer unlocking.
	for _, tok := range c.result("tokens.list", nil)["tokens"].([]any) {
		if tm := tok.(map[string]any); tm["id"] == alice && tm["pin"].(map[string]any)["locked"] != true {
			t.Errorf("tokens.list pin = %v, want locked", tm["pin"])
		}
	}
	// Unlocking works whether or not the PIN is blocked.
	c.result("pin.unlock", map[string]any{"token": alice, "soPin": lcSOPIN, "newPin": lcUserPIN})

	lc.shim.Set(t, "slot_label = alice", "token_flags_set = CKF_SO_PIN_LOCKED")
	wantError(t, c.call("pin.unlock", map[string]any{"token": alice, "soPin": lcSOPIN, "newPin": lcUserPIN}), 1015, "SO_PIN_LOCKED")

	lc.shim.Set(t, "slot_label = alice", "token_flags_set = CKF_USER_PIN_FINAL_TRY")
	lc.shim.ClearCalls(t)
	wantError(t, c.call("sign", signParams), 1012, "PIN_FINAL_TRY")
	if n := lc.shim.Called(t, "C_Login"); n != 0 {
		t.Errorf("C_Login called %d times on the final try without confirmation", n)
	}
	confirmed := map[string]any{"confirmFinalTry": true}
	for k, v := range signParams {
		confirmed[k] = v
	}
	c.result("sign", confirmed)

	lc.shim.Set(t, "slot_label = alice", "fail = C_SignInit CKR_MECHANISM_INVALID")
	wantError(t, c.call("sign", signParams), 1020, "MECHANISM_UNSUPPORTED")

	lc.shim.Set(t, "slot_label = alice", "fail = C_Login:USER CKR_PIN_LOCKED")
	wantError(t, c.call("sign", signParams), 1011, "PIN_LOCKED")

	// Pulled mid-call: the caller hears TOKEN_REMOVED, nothing is half
	// written, and the agent serves on.
	lc.shim.Set(t, "slot_label = alice", "fail = C_Sign CKR_DEVICE_REMOVED")
	wantError(t, c.call("sign", signParams), 1040, "TOKEN_REMOVED")
	lc.shim.Set(t, "slot_label = alice", "fail = C_Sign CKR_DEVICE_ERROR")
	r := c.call("sign", signParams)
	wantError(t, r, 1041, "DEVICE_ERROR")
	if !strings.Contains(r.Error.Message, "CKR_DEVICE_ERROR") {
		t.Errorf("DEVICE_ERROR message %q does not name the CKR", r.Error.Message)
	}

	gen := c.result("keys.generate", map[string]any{"token": bob, "pin": lcUserPIN, "algorithm": "EC-P256"})
	csr := c.result("csr.create", map[string]any{"token": bob, "pin": lcUserPIN, "key": gen["key"], "subject": map[string]any{"commonName": "Bob"}})
	issued := lc.issue(csr["csr"].(string), time.Now().AddDate(1, 0, 0))
	lc.shim.Set(t, "slot_label = bob", "fail = C_CreateObject CKR_DEVICE_REMOVED")
	wantError(t, c.call("certs.import", map[string]any{"token": bob, "pin": lcUserPIN, "certificate": issued}), 1040, "TOKEN_REMOVED")
	lc.shim.Set(t, "slot_label = bob", "fail = C_CreateObject CKR_TOKEN_WRITE_PROTECTED")
	wantError(t, c.call("certs.import", map[string]any{"token": bob, "pin": lcUserPIN, "certificate": issued}), 1021, "TOKEN_READ_ONLY")
	lc.shim.Set(t)
	if certs := lc.certificates(c, "bob"); len(certs) != 0 {
		t.Errorf("bob's certificates after the failed imports = %v, want none", certs)
	}
	// A renewal whose import fails deletes nothing.
	lc.shim.Set(t, "slot_label = alice", "fail = C_CreateObject CKR_DEVICE_REMOVED")
	prep := c.result("renewal.prepare", map[string]any{"token": alice, "pin": lcUserPIN, "cert": "01", "newKey": false})
	renewed := lc.issue(prep["csr"].(string), time.Now().AddDate(2, 0, 0))
	wantError(t, c.call("renewal.complete", map[string]any{"token": alice, "pin": lcUserPIN, "certificate": renewed, "replaces": "01", "removeOld": true}), 1040, "TOKEN_REMOVED")
	lc.shim.Set(t)
	if certs := lc.certificates(c, "alice"); len(certs) != 1 || certs["01"] == "" {
		t.Errorf("alice's certificates after the failed renewal = %v, want the old one", certs)
	}
	c.result("sign", signParams)
	c.stillServes()
}

func TestAuditOfRefusedParams(t *testing.T) {
	lc := newLifecycle(t, false)
	c := lc.dial("https://a.example")
	wantError(t, c.call("sign", map[string]any{"token": lc.tokens["alice"], "pin": lcUserPIN, "cert": "01", "data": "%%%"}), -32602, "INVALID_PARAMS")
	lines := lc.auditLines()
	if len(lines) != 1 || lines[0]["method"] != "sign" || lines[0]["outcome"] != "INVALID_PARAMS" ||
		lines[0]["origin"] != "https://a.example" || lines[0]["token"] != lc.tokens["alice"] || lines[0]["serial"] == "" {
		t.Errorf("audit = %v, want one sign line with outcome INVALID_PARAMS", lines)
	}
}

func TestMediaCheck(t *testing.T) {
	env := softhsm.New(t)
	for _, label := range []string{"legacy-alice", "modern-bob", "legacy-empty"} {
		if err := env.InitToken(label, lcSOPIN, lcUserPIN); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := softhsm.NewCA("Media CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []struct {
		token    string
		id       byte
		notAfter string
	}{
		{"legacy-alice", 1, "2028-09-13T00:00:00Z"},
		{"legacy-alice", 2, "2027-06-01T00:00:00Z"},
		{"modern-bob", 1, "2028-09-13T00:00:00Z"},
	} {
		notAfter, _ := time.Parse(time.RFC3339, spec.notAfter)
		if _, _, err := env.AddKeyAndCert(spec.token, lcUserPIN, ca, softhsm.CertSpec{
			ID: []byte{spec.id}, Label: spec.notAfter, NotBefore: notAfter.AddDate(-3, 0, 0), NotAfter: notAfter,
		}); err != nil {
			t.Fatal(err)
		}
	}
	m := token.NewManager([]string{env.Module}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	media := []agent.MediaProfile{
		{Name: "cpp-blue", Description: "Legacy CPP media", Legacy: true, UpgradeTo: "bjca", CarryOverMonths: 12, MatchLabel: regexp.MustCompile("^legacy-")},
		{Name: "modern", CarryOverMonths: 12},
		{Name: "bjca", Description: "BJCA token", CarryOverMonths: 12, MatchLabel: regexp.MustCompile("^bjca-")},
	}
	ts := startServer(t, Config{AllowNoOrigin: true}, agent.New(m, agent.Options{RenewBeforeDays: 30, Media: media}))
	c := ts.dial(t, nil)
	ids := map[string]string{}
	for _, tok := range c.result("tokens.list", nil)["tokens"].([]any) {
		tm := tok.(map[string]any)
		ids[tm["label"].(string)] = tm["id"].(string)
		if tm["label"] == "legacy-alice" {
			keys(t, "media", tm["media"], "profile", "legacy", "upgradeTo", "description")
		}
	}
	at := "2027-01-10T00:00:00Z"
	md := func(months, days int) map[string]any {
		return map[string]any{"months": float64(months), "days": float64(days)}
	}
	tests := []struct {
		name   string
		params map[string]any
		want   map[string]any
	}{
		{"latest certificate: 20 months 3 days", map[string]any{"token": ids["legacy-alice"], "at": at}, map[string]any{
			"token": ids["legacy-alice"], "profile": "cpp-blue", "legacy": true, "upgradeTo": "bjca", "upgradeToDescription": "BJCA token", "carryOverMonths": 12.0, "cert": "01",
			"remaining": md(20, 3), "carryOver": md(12, 0), "credit": md(8, 3)}},
		{"chosen certificate: under 12 months", map[string]any{"token": ids["legacy-alice"], "cert": "02", "at": at}, map[string]any{
			"token": ids["legacy-alice"], "profile": "cpp-blue", "legacy": true, "upgradeTo": "bjca", "upgradeToDescription": "BJCA token", "carryOverMonths": 12.0, "cert": "02",
			"remaining": md(4, 22), "carryOver": md(0, 0), "credit": md(4, 22)}},
		{"expired", map[string]any{"token": ids["legacy-alice"], "at": "2029-01-01T00:00:00Z"}, map[string]any{
			"token": ids["legacy-alice"], "profile": "cpp-blue", "legacy": true, "upgradeTo": "bjca", "upgradeToDescription": "BJCA token", "carryOverMonths": 12.0, "cert": "01",
			"remaining": md(0, 0), "carryOver": md(0, 0), "credit": md(0, 0)}},
		{"no certificate", map[string]any{"token": ids["legacy-empty"], "at": at}, map[string]any{
			"token": ids["legacy-empty"], "profile": "cpp-blue", "legacy": true, "upgradeTo": "bjca", "upgradeToDescription": "BJCA token", "carryOverMonths": 12.0, "cert": nil,
			"remaining": md(0, 0), "carryOver": md(0, 0), "credit": md(0, 0)}},
		{"not legacy", map[string]any{"token": ids["modern-bob"], "at": at}, map[string]any{
			"token": ids["modern-bob"], "profile": "modern", "legacy": false, "upgradeTo": nil, "upgradeToDescription": nil, "carryOverMonths": 0.0, "cert": "01",
			"remaining": md(20, 3), "carryOver": md(0, 0), "credit": md(0, 0)}},
	}
	for _, tt := range tests {
		got := c.result("media.check", tt.params)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, got, tt.want)
		}
	}
	wantError(t, c.call("media.check", map[string]any{"token": ids["legacy-alice"], "cert": "99"}), 1002, "OBJECT_NOT_FOUND")
	wantError(t, c.call("media.check", map[string]any{"token": unknownToken}), 1001, "TOKEN_NOT_FOUND")
}
