package ws

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/internal/gosttest"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/streebog"
	"github.com/tokenagent/tokenagent/token"
)

// gostRig is a module rig on a token "gost" of the SoftHSM built with GOST
// (softhsm.NewGOST).
func gostRig(t *testing.T) *moduleRig {
	t.Helper()
	env := softhsm.NewGOST(t)
	if err := env.InitToken("gost", modSOPIN, modUserPIN); err != nil {
		t.Fatal(err)
	}
	return newModuleRig(t, env.Module)
}

// TestModuleSoftHSMGOST runs the module behaviours on the SoftHSM built with
// GOST, with GOST-2012-256 keys signing Streebog-256 digests. It has none of
// the TC26 vendor mechanisms, so 512-bit keys are refused from its
// mechanism list, before any login.
func TestModuleSoftHSMGOST(t *testing.T) {
	testModule(t, gostRig(t), moduleCaps{
		label:       "gost",
		algorithms:  []string{"GOST-2012-256"},
		unsupported: []string{"GOST-2012-512"},
	})
}

// flipped is b with the byte at i changed.
func flipped(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x01
	return out
}

// TestModuleSoftHSMGOSTSigning shows on the GOST SoftHSM what only GOST keys
// have: the parameter set (chosen by the token, listed by certs.list), the
// verifiers refusing tampered raw and CMS signatures, attached CMS, the
// GOST requests the agent refuses, a sign.batch of 100, and renewals that
// keep the key or make one like it.
func TestModuleSoftHSMGOSTSigning(t *testing.T) {
	r := gostRig(t)
	tok := r.tokens["gost"]
	params := func(extra map[string]any) map[string]any {
		return merge(map[string]any{"token": tok, "pin": modUserPIN}, extra)
	}
	gen := r.c.result("keys.generate", params(map[string]any{"algorithm": "GOST-2012-256", "label": "GOST Signer"}))
	pub, err := gost.ParsePKIX(decode64(t, gen["publicKey"]))
	if err != nil {
		t.Fatalf("keys.generate's publicKey: %v", err)
	}
	if pub.ParamSet.Name != "CryptoPro-A" {
		t.Errorf("parameter set %v; SoftHSM takes CryptoPro-A alone, after refusing the TC26 sets", pub.ParamSet)
	}
	csr := r.c.result("csr.create", params(map[string]any{"key": gen["key"], "subject": map[string]any{"commonName": "GOST Signer", "organization": "Example"},
		"emails": []string{"signer@example.com"}}))["csr"].(string)
	r.verifyCSR(csr, "CN=GOST Signer,O=Example")
	cert := r.issue(csr)
	certID := r.c.result("certs.import", params(map[string]any{"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))}))["cert"].(string)
	if certID != gen["key"] {
		t.Errorf("certs.import stored the certificate as %s, want the key's id %s", certID, gen["key"])
	}
	ca := r.gostAuthority().PEM
	spki, err := pub.MarshalPKIX()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("certs.list", func(t *testing.T) {
		r.c.t = t
		list := r.c.result("certs.list", map[string]any{"token": tok})["certificates"].([]any)
		if len(list) != 1 {
			t.Fatalf("certificates = %v", list)
		}
		c := list[0].(map[string]any)
		if c["id"] != certID || c["keyAlgorithm"] != "GOST-2012" || c["keySize"] != 256.0 || c["curve"] != nil || c["paramSet"] != "CryptoPro-A" ||
			c["subject"] != "CN=GOST Signer,O=Example" || c["lifetime"].(map[string]any)["status"] != "valid" {
			t.Errorf("certificate = %v", c)
		}
		media := r.c.result("media.check", map[string]any{"token": tok, "cert": certID})
		if media["cert"] != certID || media["remaining"].(map[string]any)["days"] == nil {
			t.Errorf("media.check = %v", media)
		}
	})

	data := []byte("договор, подписанный ГОСТ Р 34.10-2012")
	other := []byte("a different contract")
	b64 := base64.StdEncoding.EncodeToString(data)
	digest := streebog.Sum256(data)
	digest64 := base64.StdEncoding.EncodeToString(digest[:])
	sign := func(t *testing.T, extra map[string]any) []byte {
		t.Helper()
		res := r.c.result("sign", params(merge(map[string]any{"cert": certID, "digestAlgorithm": "STREEBOG-256"}, extra)))
		format := "raw"
		if extra["format"] != nil {
			format = extra["format"].(string)
		}
		if res["algorithm"] != "GOST-2012-256-STREEBOG-256" || res["format"] != format {
			t.Errorf("sign: algorithm %v, format %v", res["algorithm"], res["format"])
		}
		return decode64(t, res["signature"])
	}

	t.Run("raw refused when tampered with", func(t *testing.T) {
		r.c.t = t
		for _, input := range []map[string]any{{"data": b64}, {"digest": digest64}} {
			sig := sign(t, input)
			if len(sig) != 64 {
				t.Fatalf("signature of %d bytes, want 64 (s‖r)", len(sig))
			}
			for name, verify := range map[string]func(testing.TB, []byte, int, []byte, []byte) error{
				"openssl": gosttest.OpenSSLRaw, "botan": gosttest.BotanRaw,
			} {
				if err := verify(t, spki, 256, data, sig); err != nil {
					t.Errorf("%s refused the signature: %v", name, err)
				}
				if err := verify(t, spki, 256, other, sig); err == nil {
					t.Errorf("%s accepted the signature for other data", name)
				}
				if err := verify(t, spki, 256, data, flipped(sig, 10)); err == nil {
					t.Errorf("%s accepted a tampered signature", name)
				}
			}
		}
	})

	t.Run("cms", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			input map[string]any
		}{
			{"detached", map[string]any{"data": b64, "format": "cms"}},
			{"digest", map[string]any{"digest": digest64, "format": "cms"}},
			{"attached", map[string]any{"data": b64, "format": "cms", "detached": false}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r.c.t = t
				sig := sign(t, tt.input)
				content := data
				if tt.name == "attached" {
					content = nil
				}
				if err := gosttest.OpenSSLCMS(t, ca, sig, content, data); err != nil {
					t.Errorf("openssl: %v", err)
				}
				if err := gosttest.CertToolCMS(t, ca, sig, content); err != nil {
					t.Errorf("certtool: %v", err)
				}
				if tt.name == "attached" {
					// The content sits in the middle: tamper with one of its bytes.
					bad := flipped(sig, strings.Index(string(sig), string(data))+3)
					if gosttest.OpenSSLCMS(t, ca, bad, nil, data) == nil || gosttest.CertToolCMS(t, ca, bad, nil) == nil {
						t.Error("a tampered attached content verified")
					}
					return
				}
				if gosttest.OpenSSLCMS(t, ca, sig, other, nil) == nil || gosttest.CertToolCMS(t, ca, sig, other) == nil {
					t.Error("a detached signature verified for other data")
				}
				// The signature value is the last 64 bytes.
				bad := flipped(sig, len(sig)-5)
				if gosttest.OpenSSLCMS(t, ca, bad, content, nil) == nil || gosttest.CertToolCMS(t, ca, bad, content) == nil {
					t.Error("a tampered signature verified")
				}
			})
		}
	})

	t.Run("refused", func(t *testing.T) {
		r.c.t = t
		for _, p := range []map[string]any{
			{"cert": certID, "data": b64, "digestAlgorithm": "SHA-256"},
			{"cert": certID, "data": b64, "digestAlgorithm": "STREEBOG-512"},
			{"cert": certID, "data": b64, "digestAlgorithm": "STREEBOG-256", "padding": "pss"},
			{"cert": certID, "digest": base64.StdEncoding.EncodeToString(digest[:31]), "digestAlgorithm": "STREEBOG-256"},
			{"cert": certID, "data": b64, "digestAlgorithm": "STREEBOG-384"},
		} {
			wantError(t, r.c.call("sign", params(p)), -32602, "INVALID_PARAMS")
		}
		for _, tt := range []struct {
			params       map[string]any
			code         int
			reason, name string
		}{
			{map[string]any{"algorithm": "GOST-2012-256", "paramSet": "TC26-256-A"}, 1020, "MECHANISM_UNSUPPORTED", "a parameter set the token refuses"},
			{map[string]any{"algorithm": "GOST-2012-256", "paramSet": "TC26-512-A"}, -32602, "INVALID_PARAMS", "a 512-bit set for a 256-bit key"},
			{map[string]any{"algorithm": "GOST-2012-256", "paramSet": "CryptoPro-Z"}, -32602, "INVALID_PARAMS", "an unknown set"},
			{map[string]any{"algorithm": "EC-P256", "paramSet": "CryptoPro-A"}, -32602, "INVALID_PARAMS", "a set for an EC key"},
			{map[string]any{"paramSet": "CryptoPro-A"}, -32602, "INVALID_PARAMS", "a set without an algorithm"},
			{map[string]any{"algorithm": "GOST-2012-256", "paramSet": 1}, -32602, "INVALID_PARAMS", "a set that is no string"},
		} {
			r.shim.ClearCalls(t)
			wantError(t, r.c.call("keys.generate", params(tt.params)), tt.code, tt.reason)
			if n := r.shim.Called(t, "C_Login"); tt.code == -32602 && n != 0 {
				t.Errorf("%s: %d logins to refuse it", tt.name, n)
			}
		}
		for _, p := range []map[string]any{
			{"cert": certID, "paramSet": "TC26-512-A"},
			{"cert": certID, "newKey": false, "paramSet": "CryptoPro-A"},
		} {
			wantError(t, r.c.call("renewal.prepare", params(p)), -32602, "INVALID_PARAMS")
		}
	})

	t.Run("sign.batch of 100", func(t *testing.T) {
		r.c.t = t
		const n = 100
		items := make([]map[string]any, n)
		for i := range items {
			items[i] = map[string]any{"data": base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "item %d", i))}
		}
		before := strings.Count(r.audit.String(), `"method":"sign.batch"`)
		sigs := r.c.result("sign.batch", params(map[string]any{"cert": certID, "digestAlgorithm": "STREEBOG-256", "items": items}))["signatures"].([]any)
		if len(sigs) != n {
			t.Fatalf("%d signatures, want %d", len(sigs), n)
		}
		for i, s := range sigs {
			s := s.(map[string]any)
			if s["algorithm"] != "GOST-2012-256-STREEBOG-256" {
				t.Errorf("item %d: algorithm %v", i, s["algorithm"])
			}
			if err := gosttest.OpenSSLRaw(t, spki, 256, fmt.Appendf(nil, "item %d", i), decode64(t, s["signature"])); err != nil {
				t.Errorf("item %d: %v", i, err)
			}
		}
		if got := strings.Count(r.audit.String(), `"method":"sign.batch"`) - before; got != n {
			t.Errorf("%d audit lines for the batch, want %d", got, n)
		}
	})

	t.Run("renewal", func(t *testing.T) {
		r.c.t = t
		same := r.c.result("renewal.prepare", params(map[string]any{"cert": certID, "newKey": false}))
		if same["key"] != certID {
			t.Errorf("renewal.prepare with the old key: key %v, want %v", same["key"], certID)
		}
		r.verifyCSR(same["csr"].(string), "CN=GOST Signer,O=Example")
		// No algorithm: a key like the old one, on its parameter set.
		prep := r.c.result("renewal.prepare", params(map[string]any{"cert": certID}))
		if prep["key"] == certID {
			t.Fatal("renewal.prepare kept the old key")
		}
		r.verifyCSR(prep["csr"].(string), "CN=GOST Signer,O=Example")
		renewed := r.issue(prep["csr"].(string))
		newID := r.c.result("renewal.complete", params(map[string]any{
			"certificate": base64.StdEncoding.EncodeToString(renewed.Raw), "replaces": certID, "removeOld": true,
		}))["cert"]
		if newID != prep["key"] {
			t.Errorf("renewal.complete: %v, want the new key's id %v", newID, prep["key"])
		}
		list := r.c.result("certs.list", map[string]any{"token": tok})["certificates"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["id"] != newID || list[0].(map[string]any)["paramSet"] != "CryptoPro-A" {
			t.Errorf("after renewal: %v", list)
		}
		sig := r.c.result("sign", params(map[string]any{"cert": newID, "data": b64, "digestAlgorithm": "STREEBOG-256", "format": "cms"}))["signature"]
		r.verifyCMS(renewed, data, decode64(t, sig))
	})
}

// TestStreebogWithAnotherKey asks an EC key on the stock SoftHSM for a
// Streebog signature.
func TestStreebogWithAnotherKey(t *testing.T) {
	s := newSigning(t)
	wantError(t, s.c.call("sign", s.params("EC-P256", map[string]any{"data": "aGk=", "digestAlgorithm": "STREEBOG-256"})), -32602, "INVALID_PARAMS")
}

// TestGOSTBesideStockSoftHSM loads Debian's SoftHSM and the GOST build into
// one agent, over the same token directory: each module shows the token;
// only the GOST build makes GOST keys and signs with them, and both list
// the certificate.
func TestGOSTBesideStockSoftHSM(t *testing.T) {
	env := softhsm.NewGOST(t)
	stock, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InitToken("gost", modSOPIN, modUserPIN); err != nil {
		t.Fatal(err)
	}
	m := token.NewManager([]string{stock, env.Module}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	c := startServer(t, Config{AllowNoOrigin: true}, agent.New(m, agent.Options{RenewBeforeDays: 30})).dial(t, nil)
	byModule := map[string]string{}
	for _, tok := range c.result("tokens.list", nil)["tokens"].([]any) {
		tok := tok.(map[string]any)
		byModule[tok["module"].(string)] = tok["id"].(string)
	}
	if len(byModule) != 2 {
		t.Fatalf("tokens by module: %v", byModule)
	}
	on := func(module string, extra map[string]any) map[string]any {
		return merge(map[string]any{"token": byModule[module], "pin": modUserPIN}, extra)
	}
	gen := map[string]any{"algorithm": "GOST-2012-256"}
	wantError(t, c.call("keys.generate", on(stock, gen)), 1020, "MECHANISM_UNSUPPORTED")
	key := c.result("keys.generate", on(env.Module, gen))["key"]
	csr := c.result("csr.create", on(env.Module, map[string]any{"key": key, "subject": map[string]any{"commonName": "Both"}}))["csr"].(string)
	cert := gosttest.NewCA(t, "GOST CA").Issue(t, []byte(csr))
	certID := c.result("certs.import", on(env.Module, map[string]any{"certificate": base64.StdEncoding.EncodeToString(cert.Raw)}))["cert"]
	sign := map[string]any{"cert": certID, "data": "aGk=", "digestAlgorithm": "STREEBOG-256"}
	c.result("sign", on(env.Module, sign))
	wantError(t, c.call("sign", on(stock, sign)), 1020, "MECHANISM_UNSUPPORTED")
	for module, id := range byModule {
		list := c.result("certs.list", map[string]any{"token": id})["certificates"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["keyAlgorithm"] != "GOST-2012" || list[0].(map[string]any)["paramSet"] != "CryptoPro-A" {
			t.Errorf("%s lists %v", module, list)
		}
	}
}
