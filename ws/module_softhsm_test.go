package ws

import (
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// TestModuleSoftHSM runs the module behaviours on SoftHSM as Debian builds
// it, without GOST (module_softhsm_gost_test.go has the build with it).
func TestModuleSoftHSM(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("module", modSOPIN, modUserPIN); err != nil {
		t.Fatal(err)
	}
	r := newModuleRig(t, env.Module)
	testModule(t, r, moduleCaps{
		label:       "module",
		algorithms:  []string{"RSA-2048", "RSA-3072", "EC-P256", "EC-P384"},
		unsupported: []string{"GOST-2012-256", "GOST-2012-512"}, // Debian builds it without GOST
		pss:         true,
	})
}

// TestModuleSoftHSMAlwaysAuthenticate signs with keys that need a login for
// each use (CKA_ALWAYS_AUTHENTICATE, as PIV signature keys have), which
// SoftHSM enforces: sign, every sign.batch item, csr.create and a renewal
// keeping the key, each verified by OpenSSL.
func TestModuleSoftHSMAlwaysAuthenticate(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("piv", modSOPIN, modUserPIN); err != nil {
		t.Fatal(err)
	}
	ca, err := softhsm.NewCA("Module CA")
	if err != nil {
		t.Fatal(err)
	}
	algs := []string{"EC-P256", "RSA-2048"}
	var certs []*generated
	for i, alg := range algs {
		cert, _, err := env.AddKeyAndCert("piv", modUserPIN, ca, softhsm.CertSpec{
			KeyAlgorithm: alg, ID: []byte{0x9c, byte(i)}, Label: "PIV " + alg, AlwaysAuthenticate: true,
			Subject: pkix.Name{CommonName: "PIV " + alg},
		})
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, &generated{alg: alg, key: fmt.Sprintf("9c%02x", i), cert: cert})
	}
	r := newModuleRig(t, env.Module)
	r.ca = ca
	tok := r.tokens["piv"]
	data := []byte("a qualified signature")
	b64 := base64.StdEncoding.EncodeToString(data)
	logins := func(t *testing.T, what string, want int) {
		t.Helper()
		if got := r.shim.Called(t, "C_Login"); got != want {
			t.Errorf("%s: %d logins, want the user's and one per signature (%d)", what, got, want)
		}
	}
	for _, g := range certs {
		t.Run(g.alg, func(t *testing.T) {
			r.c.t = t
			p := map[string]any{"token": tok, "pin": modUserPIN, "cert": g.key}
			r.shim.ClearCalls(t)
			sig := r.c.result("sign", merge(p, map[string]any{"data": b64}))
			r.verifyRaw(g.cert, "SHA-256", false, data, decode64(t, sig["signature"]))
			logins(t, "sign", 2)

			r.shim.ClearCalls(t)
			items := []any{map[string]any{"data": b64}, map[string]any{"data": b64}, map[string]any{"data": b64}}
			for _, s := range r.c.result("sign.batch", merge(p, map[string]any{"items": items}))["signatures"].([]any) {
				r.verifyRaw(g.cert, "SHA-256", false, data, decode64(t, s.(map[string]any)["signature"]))
			}
			logins(t, "sign.batch of 3", 4)

			r.shim.ClearCalls(t)
			csr := r.c.result("csr.create", map[string]any{"token": tok, "pin": modUserPIN, "key": g.key,
				"subject": map[string]any{"commonName": "PIV " + g.alg + " again"}})["csr"].(string)
			r.verifyCSR(csr, "CN=PIV "+g.alg+" again")
			logins(t, "csr.create", 2)

			r.shim.ClearCalls(t)
			renewal := r.c.result("renewal.prepare", map[string]any{"token": tok, "pin": modUserPIN, "cert": g.key, "newKey": false})
			r.verifyCSR(renewal["csr"].(string), "CN=PIV "+g.alg)
			logins(t, "renewal.prepare keeping the key", 2)
		})
	}
}

// TestModuleSoftHSMPINPad gives a SoftHSM token a PIN pad through the shim,
// which logs in with the PIN "typed on the pad" and refuses one from the
// caller: tokens.list tells the page, which sends "" for the PIN.
func TestModuleSoftHSMPINPad(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("pad", modSOPIN, modUserPIN); err != nil {
		t.Fatal(err)
	}
	ca, err := softhsm.NewCA("Module CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := env.AddKeyAndCert("pad", modUserPIN, ca, softhsm.CertSpec{ID: []byte{1}, Label: "pad"})
	if err != nil {
		t.Fatal(err)
	}
	r := newModuleRig(t, env.Module)
	r.shim.Set(t, "token_flags_set = CKF_PROTECTED_AUTHENTICATION_PATH", "pinpad = "+modUserPIN)
	tok := r.listTokens()[0].(map[string]any)
	if pin := tok["pin"].(map[string]any); pin["protectedAuthPath"] != true {
		t.Fatalf("tokens.list pin = %v, want protectedAuthPath", pin)
	}
	data := []byte("signed with the PIN typed on the pad")
	sig := r.c.result("sign", map[string]any{"token": tok["id"], "pin": "", "cert": "01", "data": base64.StdEncoding.EncodeToString(data)})
	r.verifyRaw(cert, "SHA-256", false, data, decode64(t, sig["signature"]))
}
