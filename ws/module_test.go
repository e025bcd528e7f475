package ws

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/audit"
	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/internal/gosttest"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/p11shim"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/syncbuf"
	"github.com/tokenagent/tokenagent/token"
)

// The module tests run the same behaviours over the socket on each real
// PKCS#11 module (module_*_test.go, one file per module, as smallstep's
// kms/pkcs11 has), each opened through the fault shim so that the calls
// the agent makes into it can be counted. GOST keys are certified by a
// GOST CA and checked by the GOST verifiers (internal/gosttest), the
// others by a CA of softhsm's and plain OpenSSL. Their PINs are long and odd, so
// that a search of the logs for them cannot match anything else.
const (
	modUserPIN  = "48151623"
	modSOPIN    = "42424242"
	modNewPIN   = "31415926535"
	modWrongPIN = "27182818284"
)

// moduleRig is an agent over one module, served on a socket.
type moduleRig struct {
	t      *testing.T
	agent  *agent.Agent
	ts     *testServer
	c      *client
	shim   *p11shim.Control
	ca     *softhsm.CA
	gostCA *gosttest.CA // made on first need (gostAuthority)
	dir    string       // OpenSSL's files
	logs   *syncbuf.Buffer
	audit  *syncbuf.Buffer
	module string            // the real module's path
	tokens map[string]string // label → id
}

// newModuleRig opens module through the shim in an agent served on a
// socket. Make the module's tokens before: swtpm serves one process, and
// SoftHSM reads its tokens at C_Initialize.
func newModuleRig(t *testing.T, module string) *moduleRig {
	t.Helper()
	return newModuleRigWithState(t, module, nil)
}

// newModuleRigWithState is newModuleRig with an agent that keeps its state
// in store.
func newModuleRigWithState(t *testing.T, module string, store agent.StateStore) *moduleRig {
	t.Helper()
	ca, err := softhsm.NewCA("Module CA")
	if err != nil {
		t.Fatal(err)
	}
	r := &moduleRig{t: t, ca: ca, dir: t.TempDir(), logs: &syncbuf.Buffer{}, audit: &syncbuf.Buffer{}, module: module}
	openssl.WriteFiles(t, r.dir, map[string][]byte{"ca.pem": ca.PEM})
	r.shim = p11shim.Use(t, module)
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := token.NewManager([]string{p11shim.Path(t)}, log)
	t.Cleanup(func() { _ = m.Close() })
	r.agent = agent.New(m, agent.Options{Version: "test", RenewBeforeDays: 30, Audit: audit.New(r.audit, log), State: store})
	r.ts = startServer(t, Config{AllowNoOrigin: true, Logger: log}, r.agent)
	r.c = r.ts.dial(t, nil)
	r.listTokens()
	t.Cleanup(func() {
		for name, text := range map[string]string{"log": r.logs.String(), "audit log": r.audit.String()} {
			for _, pin := range []string{modUserPIN, modSOPIN, modNewPIN, modWrongPIN} {
				if strings.Contains(text, pin) {
					t.Errorf("the %s contains the PIN %s", name, pin)
				}
			}
		}
	})
	return r
}

// listTokens calls tokens.list and keeps the ids by label.
func (r *moduleRig) listTokens() []any {
	r.t.Helper()
	list := r.c.result("tokens.list", nil)["tokens"].([]any)
	r.tokens = map[string]string{}
	for _, tok := range list {
		tm := tok.(map[string]any)
		r.tokens[tm["label"].(string)] = tm["id"].(string)
	}
	return list
}

// moduleCaps is what a module's tokens can do, for the shared behaviours.
type moduleCaps struct {
	label       string   // the token the behaviours use, empty at the start, PINs modUserPIN and modSOPIN
	algorithms  []string // keys.generate makes these
	unsupported []string // and answers MECHANISM_UNSUPPORTED for these
	pss         bool     // RSA-PSS signing
	// renewalsApart: keys.list and pending renewals are checked on a token
	// of their own, as the module cannot make more keys after the others
	// (tpm2-pkcs11 without a resource manager runs out of TPM object
	// contexts after a few key generations in one process:
	// "Esys_LoadExternal: out of memory for object contexts").
	renewalsApart bool
}

// generated is a key made in the behaviours, with its certificate.
type generated struct {
	alg, key string
	cert     *x509.Certificate
}

// digests are the digestAlgorithm names g's key signs with; the first is
// the one the behaviours name where any will do.
func (g generated) digests() []string {
	if bits, ok := strings.CutPrefix(g.alg, "GOST-2012-"); ok {
		return []string{"STREEBOG-" + bits}
	}
	return []string{"SHA-256", "SHA-384", "SHA-512"}
}

// testModule runs the behaviours every module must show, on token
// caps.label.
func testModule(t *testing.T, r *moduleRig, caps moduleCaps) {
	tok := r.tokens[caps.label]
	if tok == "" {
		t.Fatalf("no token %q in %v", caps.label, r.tokens)
	}
	params := func(extra map[string]any) map[string]any {
		p := map[string]any{"token": tok, "pin": modUserPIN}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}

	t.Run("tokens.list", func(t *testing.T) {
		r.c.t = t
		ids := map[string]bool{}
		for _, entry := range r.listTokens() {
			tm := entry.(map[string]any)
			for _, field := range []string{"label", "manufacturer", "model", "serial"} {
				if v := tm[field].(string); strings.ContainsRune(v, 0) || strings.TrimRight(v, " ") != v {
					t.Errorf("%s %q keeps its padding", field, v)
				}
			}
			id := tm["id"].(string)
			if ids[id] || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
				t.Errorf("id %q: twice, or not 32 hex digits", id)
			}
			ids[id] = true
		}
	})

	var made []generated
	t.Run("keys, CSRs and certificates", func(t *testing.T) {
		r.c.t = t
		for _, alg := range caps.algorithms {
			made = append(made, r.certifiedKey(t, tok, alg))
		}
		var listed []string
		for _, c := range r.c.result("certs.list", map[string]any{"token": tok})["certificates"].([]any) {
			listed = append(listed, c.(map[string]any)["id"].(string))
		}
		for _, g := range made {
			if !slices.Contains(listed, g.key) {
				t.Errorf("certs.list %v lacks %s's certificate %s", listed, g.alg, g.key)
			}
		}
	})

	t.Run("unsupported algorithms", func(t *testing.T) {
		r.c.t = t
		for _, alg := range caps.unsupported {
			r.shim.ClearCalls(t)
			wantError(t, r.c.call("keys.generate", params(map[string]any{"algorithm": alg})), 1020, "MECHANISM_UNSUPPORTED")
			if n := r.shim.Called(t, "C_Login"); n != 0 {
				t.Errorf("%s: %d logins to refuse it", alg, n)
			}
		}
	})

	data := []byte("signed on a real module")
	b64 := base64.StdEncoding.EncodeToString(data)
	t.Run("sign", func(t *testing.T) {
		r.c.t = t
		for _, g := range made {
			rsa := strings.HasPrefix(g.alg, "RSA")
			for _, hash := range g.digests() {
				for _, input := range []map[string]any{{"data": b64}, {"digest": base64.StdEncoding.EncodeToString(digestOf(hash, data))}} {
					input["cert"], input["digestAlgorithm"] = g.key, hash
					sig := r.c.result("sign", params(input))
					r.verifyRaw(g.cert, hash, false, data, decode64(t, sig["signature"]))
				}
				if !rsa {
					continue
				}
				pss := params(map[string]any{"cert": g.key, "data": b64, "digestAlgorithm": hash, "padding": "pss"})
				if !caps.pss {
					wantError(t, r.c.call("sign", pss), 1020, "MECHANISM_UNSUPPORTED")
					continue
				}
				r.verifyRaw(g.cert, hash, true, data, decode64(t, r.c.result("sign", pss)["signature"]))
			}
			cms := r.c.result("sign", params(map[string]any{"cert": g.key, "data": b64, "digestAlgorithm": g.digests()[0], "format": "cms"}))
			r.verifyCMS(g.cert, data, decode64(t, cms["signature"]))
		}
	})

	t.Run("sign.batch", func(t *testing.T) {
		r.c.t = t
		for _, g := range made {
			items := []any{}
			for i := range 3 {
				items = append(items, map[string]any{"data": base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "item %d", i))})
			}
			sigs := r.c.result("sign.batch", params(map[string]any{"cert": g.key, "digestAlgorithm": g.digests()[0], "items": items}))["signatures"].([]any)
			if len(sigs) != len(items) {
				t.Fatalf("%s: %d signatures for %d items", g.alg, len(sigs), len(items))
			}
			for i, s := range sigs {
				r.verifyRaw(g.cert, g.digests()[0], false, fmt.Appendf(nil, "item %d", i), decode64(t, s.(map[string]any)["signature"]))
			}
		}
	})

	t.Run("the calls of a sign", func(t *testing.T) {
		r.c.t = t
		if len(made) == 0 {
			t.Fatal("no key made")
		}
		want := []string{"C_GetTokenInfo", "C_GetSessionInfo", "C_Login", "C_GetAttributeValue",
			"C_FindObjectsInit", "C_FindObjects", "C_FindObjects", "C_FindObjectsFinal", "C_SignInit", "C_Sign", "C_Logout"}
		for _, g := range made {
			hash := g.digests()[0]
			p := params(map[string]any{"cert": g.key, "digestAlgorithm": hash, "digest": base64.StdEncoding.EncodeToString(digestOf(hash, data))})
			r.c.result("sign", p)
			r.shim.ClearCalls(t)
			r.c.result("sign", p)
			if got := r.shim.Calls(t); !slices.Equal(got, want) {
				t.Errorf("%s: one sign made %d calls %q, want %d: %q", g.alg, len(got), got, len(want), want)
			}
		}
	})

	// signing is a sign by the first key made, with pin.
	signing := func(pin string) map[string]any {
		return map[string]any{"token": tok, "pin": pin, "cert": made[0].key, "digestAlgorithm": made[0].digests()[0], "data": b64}
	}
	t.Run("PINs", func(t *testing.T) {
		r.c.t = t
		if len(made) == 0 {
			t.Fatal("no key made")
		}
		sign := func(pin string) rpcResponse { return r.c.call("sign", signing(pin)) }
		// A PIN the token could only reject costs no try.
		r.shim.ClearCalls(t)
		wantError(t, sign(""), 1013, "PIN_INVALID")
		wantError(t, r.c.call("pin.change", map[string]any{"token": tok, "oldPin": "", "newPin": modNewPIN}), 1013, "PIN_INVALID")
		if n := r.shim.Called(t, "C_Login"); n != 0 {
			t.Errorf("%d logins for PINs refused beforehand", n)
		}
		// A wrong old PIN changes nothing, whatever C_SetPIN answers.
		wantError(t, r.c.call("pin.change", map[string]any{"token": tok, "oldPin": modWrongPIN, "newPin": modNewPIN}), 1010, "PIN_INCORRECT")
		r.c.result("sign", signing(modUserPIN))
		r.c.result("pin.change", map[string]any{"token": tok, "oldPin": modUserPIN, "newPin": modNewPIN})
		wantError(t, sign(modUserPIN), 1010, "PIN_INCORRECT")
		r.c.result("sign", signing(modNewPIN))
		r.c.result("pin.change", map[string]any{"token": tok, "oldPin": modNewPIN, "newPin": modUserPIN})
	})

	t.Run("pin.unlock", func(t *testing.T) {
		r.c.t = t
		if len(made) == 0 {
			t.Fatal("no key made")
		}
		wantError(t, r.c.call("pin.unlock", map[string]any{"token": tok, "soPin": modWrongPIN, "newPin": modNewPIN}), 1014, "SO_PIN_INCORRECT")
		r.c.result("pin.unlock", map[string]any{"token": tok, "soPin": modSOPIN, "newPin": modNewPIN})
		r.c.result("sign", signing(modNewPIN))
		r.c.result("pin.unlock", map[string]any{"token": tok, "soPin": modSOPIN, "newPin": modUserPIN})
	})

	t.Run("lifetime.check and renewal", func(t *testing.T) {
		r.c.t = t
		if len(made) == 0 {
			t.Fatal("no key made")
		}
		if lt := r.c.result("lifetime.check", map[string]any{"token": tok}); lt["status"] != "valid" || len(lt["certificates"].([]any)) != len(made) {
			t.Errorf("lifetime.check = %v, want %d valid certificates", lt, len(made))
		}
		old := made[0]
		prep := r.c.result("renewal.prepare", params(map[string]any{"cert": old.key, "newKey": true, "algorithm": "EC-P256"}))
		r.verifyCSR(prep["csr"].(string), "CN=Module "+old.alg)
		issued := r.issue(prep["csr"].(string))
		done := r.c.result("renewal.complete", params(map[string]any{"certificate": base64.StdEncoding.EncodeToString(issued.Raw),
			"replaces": old.key, "removeOld": true}))
		if done["cert"] != prep["key"] {
			t.Errorf("renewed certificate id %v, want the new key's %v", done["cert"], prep["key"])
		}
		var listed []string
		for _, c := range r.c.result("certs.list", map[string]any{"token": tok})["certificates"].([]any) {
			listed = append(listed, c.(map[string]any)["id"].(string))
		}
		if slices.Contains(listed, old.key) || !slices.Contains(listed, prep["key"].(string)) {
			t.Errorf("certificates after the renewal: %v, want %v in place of %s", listed, prep["key"], old.key)
		}
		made[0] = generated{alg: "EC-P256", key: prep["key"].(string), cert: issued}
		sig := r.c.result("sign", params(map[string]any{"cert": made[0].key, "data": b64}))
		r.verifyRaw(issued, "SHA-256", false, data, decode64(t, sig["signature"]))
	})

	if !caps.renewalsApart {
		t.Run("keys.list and pending renewals", func(t *testing.T) {
			r.c.t = t
			r.testKeysAndRenewals(t, tok, made)
		})
	}

	t.Run("objects.delete", func(t *testing.T) {
		r.c.t = t
		if len(made) == 0 {
			t.Fatal("no key made")
		}
		g := made[len(made)-1]
		if n := r.c.result("objects.delete", params(map[string]any{"id": g.key, "what": "both"}))["deleted"]; n != 3.0 {
			t.Errorf("deleted %v objects, want the certificate and both keys", n)
		}
		wantError(t, r.c.call("csr.create", params(map[string]any{"key": g.key, "subject": map[string]any{"commonName": "gone"}})), 1002, "OBJECT_NOT_FOUND")
	})
}

// certifiedKey makes a key pair of alg on token tok with keys.generate, has
// the rig's CA certify it through csr.create (the CSR verified by
// OpenSSL), and stores the certificate with certs.import.
func (r *moduleRig) certifiedKey(t *testing.T, tok, alg string) generated {
	t.Helper()
	params := func(extra map[string]any) map[string]any {
		p := map[string]any{"token": tok, "pin": modUserPIN}
		maps.Copy(p, extra)
		return p
	}
	gen := r.c.result("keys.generate", params(map[string]any{"algorithm": alg, "label": "k-" + alg}))
	csr := r.c.result("csr.create", params(map[string]any{"key": gen["key"],
		"subject": map[string]any{"commonName": "Module " + alg, "organization": "Example"}}))["csr"].(string)
	r.verifyCSR(csr, "CN=Module "+alg)
	cert := r.issue(csr)
	imported := r.c.result("certs.import", params(map[string]any{"certificate": base64.StdEncoding.EncodeToString(cert.Raw)}))
	if imported["cert"] != gen["key"] {
		t.Errorf("%s: certificate id %v, want the key's %v", alg, imported["cert"], gen["key"])
	}
	return generated{alg: alg, key: gen["key"].(string), cert: cert}
}

// testKeysAndRenewals checks keys.list, with a PIN and without, against the
// certified keys made on token tok, and a renewal of made[0]'s certificate
// pending until cancelled.
func (r *moduleRig) testKeysAndRenewals(t *testing.T, tok string, made []generated) {
	if len(made) == 0 {
		t.Fatal("no key made")
	}
	params := func(extra map[string]any) map[string]any {
		p := map[string]any{"token": tok, "pin": modUserPIN}
		maps.Copy(p, extra)
		return p
	}
	// keys lists the token's keys by id, with a PIN or without.
	keys := func(withPIN bool) (map[string]map[string]any, bool) {
		p := map[string]any{"token": tok}
		if withPIN {
			p["pin"] = modUserPIN
		}
		res := r.c.result("keys.list", p)
		out := map[string]map[string]any{}
		for _, k := range res["keys"].([]any) {
			km := k.(map[string]any)
			out[km["id"].(string)] = km
		}
		return out, res["complete"].(bool)
	}
	for _, withPIN := range []bool{true, false} {
		listed, complete := keys(withPIN)
		if complete != withPIN {
			t.Errorf("keys.list (PIN %v): complete %v", withPIN, complete)
		}
		for _, g := range made {
			k := listed[g.key]
			if k == nil {
				t.Errorf("keys.list (PIN %v) lacks %s key %s: %v", withPIN, g.alg, g.key, listed)
				continue
			}
			spki, _ := x509.MarshalPKIXPublicKey(g.cert.PublicKey)
			if gk := gostKey(g.cert); gk != nil {
				spki, _ = gk.MarshalPKIX()
			}
			if k["publicKey"] != base64.StdEncoding.EncodeToString(spki) || !slices.Equal(anyStrings(k["certificates"]), []string{g.key}) {
				t.Errorf("keys.list (PIN %v) %s: %v, want its public key and certificate", withPIN, g.alg, k)
			}
		}
	}

	// A renewal started is pending until cancelled; its key goes.
	started := r.c.result("renewal.prepare", params(map[string]any{"cert": made[0].key}))
	newKey := started["key"].(string)
	pending := r.c.result("renewal.pending", map[string]any{"token": tok})["pending"].([]any)
	if len(pending) != 1 {
		t.Fatalf("renewal.pending = %v, want the renewal started", pending)
	}
	rec := pending[0].(map[string]any)
	if rec["key"] != newKey || rec["cert"] != made[0].key || rec["csr"] != started["csr"] {
		t.Errorf("pending %v, want key %s of certificate %s with its CSR", rec, newKey, made[0].key)
	}
	if at, err := time.Parse(time.RFC3339, rec["createdAt"].(string)); err != nil || time.Since(at) > time.Hour || time.Until(at) > time.Second {
		t.Errorf("createdAt %v (%v), want now", rec["createdAt"], err)
	}
	if listed, _ := keys(true); listed[newKey] == nil || len(anyStrings(listed[newKey]["certificates"])) != 0 {
		t.Errorf("keys.list: the new key %s without a certificate is not listed: %v", newKey, listed[newKey])
	}
	cancelled := r.c.result("renewal.cancel", params(map[string]any{"key": newKey}))
	if cancelled["cancelled"] != true || cancelled["deleted"] != 2.0 {
		t.Errorf("renewal.cancel = %v, want both keys of the pair deleted", cancelled)
	}
	if listed, _ := keys(true); listed[newKey] != nil {
		t.Errorf("the cancelled renewal's key %s is still listed", newKey)
	}
	wantError(t, r.c.call("csr.create", params(map[string]any{"key": newKey, "subject": map[string]any{"commonName": "gone"}})), 1002, "OBJECT_NOT_FOUND")
	if pending := r.c.result("renewal.pending", map[string]any{"token": tok})["pending"].([]any); len(pending) != 0 {
		t.Errorf("renewal.pending after the cancel = %v", pending)
	}

	// A renewal keeping the certified key: cancelling it deletes nothing.
	r.c.result("renewal.prepare", params(map[string]any{"cert": made[0].key, "newKey": false}))
	if cancelled := r.c.result("renewal.cancel", params(map[string]any{"key": made[0].key})); cancelled["deleted"] != 0.0 {
		t.Errorf("renewal.cancel of a certified key = %v, want nothing deleted", cancelled)
	}
	if listed, _ := keys(true); listed[made[0].key] == nil {
		t.Errorf("the certified key %s went with the cancel", made[0].key)
	}
}

// gostAuthority is the rig's GOST CA, made by OpenSSL with its GOST engine
// on first need.
func (r *moduleRig) gostAuthority() *gosttest.CA {
	if r.gostCA == nil {
		r.gostCA = gosttest.NewCA(r.t, "Module GOST CA")
	}
	return r.gostCA
}

// gostKey is the GOST public key of cert, nil for a key of another kind.
func gostKey(cert *x509.Certificate) *gost.PublicKey {
	pub, _ := gost.WithPublicKey(cert).PublicKey.(*gost.PublicKey)
	return pub
}

// parseCSR decodes a PEM CSR and tells whether its key is a GOST one.
func (r *moduleRig) parseCSR(csrPEM string) (*x509.CertificateRequest, bool) {
	r.t.Helper()
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil {
		r.t.Fatalf("not a PEM CSR: %q", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		r.t.Fatal(err)
	}
	_, err = gost.ParsePKIX(csr.RawSubjectPublicKeyInfo)
	return csr, err == nil
}

// issue has the test CA certify a PEM CSR: the GOST CA for a GOST key.
func (r *moduleRig) issue(csrPEM string) *x509.Certificate {
	r.t.Helper()
	csr, isGOST := r.parseCSR(csrPEM)
	if isGOST {
		return r.gostAuthority().Issue(r.t, []byte(csrPEM))
	}
	cert, err := r.ca.Issue(csr.PublicKey, pkix.Name{CommonName: csr.Subject.CommonName}, time.Now().Add(-time.Minute), time.Now().AddDate(1, 0, 0))
	if err != nil {
		r.t.Fatal(err)
	}
	return cert
}

// verifyCSR checks a PEM CSR with openssl req -verify (with the GOST engine
// for a GOST key) and its subject. openssl says whether the signature
// verifies, but exits 0 either way.
func (r *moduleRig) verifyCSR(csrPEM, subject string) {
	r.t.Helper()
	openssl.WriteFiles(r.t, r.dir, map[string][]byte{"req.pem": []byte(csrPEM)})
	args := []string{"-in", "req.pem", "-verify", "-noout", "-subject", "-nameopt", "RFC2253"}
	var out string
	var ok bool
	if _, isGOST := r.parseCSR(csrPEM); isGOST {
		out, ok = openssl.RunGOST(r.t, r.dir, "req", args...)
	} else {
		out, ok = openssl.Run(r.t, r.dir, append([]string{"req"}, args...)...)
	}
	if !ok || !strings.Contains(out, "verify OK") || !strings.Contains(out, subject) {
		r.t.Errorf("openssl req -verify: %s", out)
	}
}

// verifyRaw checks a raw signature over data with openssl dgst and the
// certificate's public key; a GOST one with OpenSSL's GOST engine and
// Botan.
func (r *moduleRig) verifyRaw(cert *x509.Certificate, hash string, pss bool, data, sig []byte) {
	r.t.Helper()
	if pub := gostKey(cert); pub != nil {
		spki, err := pub.MarshalPKIX()
		if err != nil {
			r.t.Fatal(err)
		}
		for name, verify := range map[string]func(testing.TB, []byte, int, []byte, []byte) error{"openssl": gosttest.OpenSSLRaw, "botan": gosttest.BotanRaw} {
			if err := verify(r.t, spki, pub.Variant.Bits, data, sig); err != nil {
				r.t.Errorf("%s %s: %s: %v", cert.Subject.CommonName, hash, name, err)
			}
		}
		return
	}
	spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		r.t.Fatal(err)
	}
	openssl.WriteFiles(r.t, r.dir, map[string][]byte{
		"pub.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), "data.bin": data, "sig.bin": sig})
	args := []string{"dgst", "-" + strings.ToLower(strings.ReplaceAll(hash, "-", "")), "-verify", "pub.pem", "-signature", "sig.bin"}
	if pss {
		args = append(args, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest")
	}
	if out, ok := openssl.Run(r.t, r.dir, append(args, "data.bin")...); !ok {
		r.t.Errorf("%s %s pss=%v (key %s): openssl dgst -verify: %s", cert.Subject.CommonName, hash, pss, hex.EncodeToString(cert.SubjectKeyId), out)
	}
}

// verifyCMS checks a detached CMS signature by cert's key with openssl cms
// -verify -cades against the test CA; one by a GOST key with OpenSSL's
// GOST engine and GnuTLS's certtool against the GOST CA.
func (r *moduleRig) verifyCMS(cert *x509.Certificate, data, sig []byte) {
	r.t.Helper()
	if gostKey(cert) != nil {
		ca := r.gostAuthority().PEM
		if err := gosttest.OpenSSLCMS(r.t, ca, sig, data, nil); err != nil {
			r.t.Errorf("%s: %v", cert.Subject.CommonName, err)
		}
		if err := gosttest.CertToolCMS(r.t, ca, sig, data); err != nil {
			r.t.Errorf("%s: %v", cert.Subject.CommonName, err)
		}
		return
	}
	openssl.WriteFiles(r.t, r.dir, map[string][]byte{"data.bin": data, "sig.p7s": sig})
	if out, ok := openssl.Run(r.t, r.dir, "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7s",
		"-CAfile", "ca.pem", "-cades", "-content", "data.bin", "-out", "out.bin"); !ok {
		r.t.Errorf("openssl cms -verify: %s", out)
	}
}
