package ws

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/audit"
	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/internal/gosttest"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/streebog"
	"github.com/tokenagent/tokenagent/internal/syncbuf"
	"github.com/tokenagent/tokenagent/token"
)

// gostAgent is an agent on one token "gost" of the SoftHSM built with GOST
// (internal/softhsm.NewGOST), with a GOST CA made by OpenSSL.
type gostAgent struct {
	c     *client
	token string
	ca    *gosttest.CA
	audit *syncbuf.Buffer
}

func newGOSTAgent(t *testing.T) *gostAgent {
	t.Helper()
	env := softhsm.NewGOST(t)
	if err := env.InitToken("gost", lcSOPIN, lcUserPIN); err != nil {
		t.Fatal(err)
	}
	g := &gostAgent{ca: gosttest.NewCA(t, "GOST Test CA"), audit: &syncbuf.Buffer{}}
	log := slog.New(slog.DiscardHandler)
	m := token.NewManager([]string{env.Module}, log)
	t.Cleanup(func() { _ = m.Close() })
	a := agent.New(m, agent.Options{RenewBeforeDays: 30, Audit: audit.New(g.audit, log)})
	g.c = startServer(t, Config{AllowNoOrigin: true}, a).dial(t, nil)
	g.token = g.c.result("tokens.list", nil)["tokens"].([]any)[0].(map[string]any)["id"].(string)
	return g
}

// params are a PIN-taking call's params on the token, with more members.
func (g *gostAgent) params(extra map[string]any) map[string]any {
	return merge(map[string]any{"token": g.token, "pin": lcUserPIN}, extra)
}

// certify makes a key's request on the token, has the CA issue it and
// imports the certificate; it returns the certificate id and the key.
func (g *gostAgent) certify(t *testing.T, commonName string) (string, *gost.PublicKey) {
	t.Helper()
	gen := g.c.result("keys.generate", g.params(map[string]any{"algorithm": "GOST-2012-256", "label": commonName}))
	pub, err := gost.ParsePKIX(decode64(t, gen["publicKey"]))
	if err != nil {
		t.Fatalf("keys.generate's publicKey: %v", err)
	}
	csr := g.c.result("csr.create", g.params(map[string]any{"key": gen["key"], "subject": map[string]any{"commonName": commonName, "organization": "Example"},
		"emails": []string{"signer@example.com"}}))["csr"].(string)
	if err := gosttest.OpenSSLCSR(t, []byte(csr)); err != nil {
		t.Fatalf("csr.create: %v", err)
	}
	cert := g.ca.Issue(t, []byte(csr))
	id := g.c.result("certs.import", g.params(map[string]any{"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))}))["cert"].(string)
	if id != gen["key"] {
		t.Errorf("certs.import stored the certificate as %s, want the key's id %s", id, gen["key"])
	}
	return id, pub
}

// TestGOSTThroughTheSocket goes through a GOST key's life on the GOST
// SoftHSM: generation, a CSR OpenSSL verifies, a certificate from a GOST CA,
// import, listing, lifetime and media, raw and CMS signatures that OpenSSL,
// Botan and GnuTLS verify (and refuse once tampered with), a batch of 100,
// and renewal.
func TestGOSTThroughTheSocket(t *testing.T) {
	g := newGOSTAgent(t)
	certID, pub := g.certify(t, "GOST Signer")
	if pub.ParamSet.Name != "CryptoPro-A" {
		t.Errorf("parameter set %v; SoftHSM takes CryptoPro-A alone, after refusing the TC26 sets", pub.ParamSet)
	}
	spki, err := pub.MarshalPKIX()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("certs.list", func(t *testing.T) {
		list := g.c.result("certs.list", map[string]any{"token": g.token})["certificates"].([]any)
		if len(list) != 1 {
			t.Fatalf("certificates = %v", list)
		}
		c := list[0].(map[string]any)
		if c["id"] != certID || c["keyAlgorithm"] != "GOST-2012" || c["keySize"] != 256.0 || c["curve"] != nil || c["paramSet"] != "CryptoPro-A" ||
			c["subject"] != "CN=GOST Signer,O=Example" || c["lifetime"].(map[string]any)["status"] != "valid" {
			t.Errorf("certificate = %v", c)
		}
		lt := g.c.result("lifetime.check", map[string]any{"token": g.token})
		if lt["status"] != "valid" || lt["renewRecommended"] != false {
			t.Errorf("lifetime.check = %v", lt)
		}
		media := g.c.result("media.check", map[string]any{"token": g.token, "cert": certID})
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
		r := g.c.result("sign", g.params(merge(map[string]any{"cert": certID, "digestAlgorithm": "STREEBOG-256"}, extra)))
		format := "raw"
		if extra["format"] != nil {
			format = extra["format"].(string)
		}
		if r["algorithm"] != "GOST-2012-256-STREEBOG-256" || r["format"] != format {
			t.Errorf("sign: algorithm %v, format %v", r["algorithm"], r["format"])
		}
		return decode64(t, r["signature"])
	}

	t.Run("raw", func(t *testing.T) {
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
				sig := sign(t, tt.input)
				content := data
				if tt.name == "attached" {
					content = nil
				}
				if err := gosttest.OpenSSLCMS(t, g.ca.PEM, sig, content, data); err != nil {
					t.Errorf("openssl: %v", err)
				}
				if err := gosttest.CertToolCMS(t, g.ca.PEM, sig, content); err != nil {
					t.Errorf("certtool: %v", err)
				}
				if tt.name == "attached" {
					// The content sits in the middle: tamper with one of its bytes.
					at := strings.Index(string(sig), string(data)) + 3
					bad := flipped(sig, at)
					if gosttest.OpenSSLCMS(t, g.ca.PEM, bad, nil, data) == nil || gosttest.CertToolCMS(t, g.ca.PEM, bad, nil) == nil {
						t.Error("a tampered attached content verified")
					}
					return
				}
				if gosttest.OpenSSLCMS(t, g.ca.PEM, sig, other, nil) == nil || gosttest.CertToolCMS(t, g.ca.PEM, sig, other) == nil {
					t.Error("a detached signature verified for other data")
				}
				// The signature value is the last 64 bytes.
				bad := flipped(sig, len(sig)-5)
				if gosttest.OpenSSLCMS(t, g.ca.PEM, bad, content, nil) == nil || gosttest.CertToolCMS(t, g.ca.PEM, bad, content) == nil {
					t.Error("a tampered signature verified")
				}
			})
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			params map[string]any
		}{
			{"SHA-256 with a GOST key", map[string]any{"cert": certID, "data": b64, "digestAlgorithm": "SHA-256"}},
			{"STREEBOG-512 with a 256-bit key", map[string]any{"cert": certID, "data": b64, "digestAlgorithm": "STREEBOG-512"}},
			{"pss", map[string]any{"cert": certID, "data": b64, "digestAlgorithm": "STREEBOG-256", "padding": "pss"}},
			{"short digest", map[string]any{"cert": certID, "digest": base64.StdEncoding.EncodeToString(digest[:31]), "digestAlgorithm": "STREEBOG-256"}},
			{"unknown digest", map[string]any{"cert": certID, "data": b64, "digestAlgorithm": "STREEBOG-384"}},
		} {
			wantError(t, g.c.call("sign", g.params(tt.params)), -32602, "INVALID_PARAMS")
		}
		for _, tt := range []struct {
			params       map[string]any
			code         int
			reason, name string
		}{
			{map[string]any{"algorithm": "GOST-2012-512"}, 1020, "MECHANISM_UNSUPPORTED", "512-bit keys without the TC26 mechanisms"},
			{map[string]any{"algorithm": "GOST-2012-256", "paramSet": "TC26-256-A"}, 1020, "MECHANISM_UNSUPPORTED", "a parameter set the token refuses"},
			{map[string]any{"algorithm": "GOST-2012-256", "paramSet": "TC26-512-A"}, -32602, "INVALID_PARAMS", "a 512-bit set for a 256-bit key"},
			{map[string]any{"algorithm": "GOST-2012-256", "paramSet": "CryptoPro-Z"}, -32602, "INVALID_PARAMS", "an unknown set"},
			{map[string]any{"algorithm": "EC-P256", "paramSet": "CryptoPro-A"}, -32602, "INVALID_PARAMS", "a set for an EC key"},
			{map[string]any{"paramSet": "CryptoPro-A"}, -32602, "INVALID_PARAMS", "a set without an algorithm"},
			{map[string]any{"algorithm": "GOST-2012-256", "paramSet": 1}, -32602, "INVALID_PARAMS", "a set that is no string"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantError(t, g.c.call("keys.generate", g.params(tt.params)), tt.code, tt.reason)
			})
		}
		for _, params := range []map[string]any{
			{"cert": certID, "paramSet": "TC26-512-A"},
			{"cert": certID, "newKey": false, "paramSet": "CryptoPro-A"},
		} {
			wantError(t, g.c.call("renewal.prepare", g.params(params)), -32602, "INVALID_PARAMS")
		}
	})

	t.Run("sign.batch", func(t *testing.T) {
		const n = 100
		items := make([]map[string]any, n)
		for i := range items {
			items[i] = map[string]any{"data": base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "item %d", i))}
		}
		before := strings.Count(g.audit.String(), `"method":"sign.batch"`)
		r := g.c.result("sign.batch", g.params(map[string]any{"cert": certID, "digestAlgorithm": "STREEBOG-256", "items": items}))
		sigs := r["signatures"].([]any)
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
		if got := strings.Count(g.audit.String(), `"method":"sign.batch"`) - before; got != n {
			t.Errorf("%d audit lines for the batch, want %d", got, n)
		}
	})

	t.Run("renewal", func(t *testing.T) {
		same := g.c.result("renewal.prepare", g.params(map[string]any{"cert": certID, "newKey": false}))
		if same["key"] != certID {
			t.Errorf("renewal.prepare with the old key: key %v, want %v", same["key"], certID)
		}
		if err := gosttest.OpenSSLCSR(t, []byte(same["csr"].(string))); err != nil {
			t.Errorf("renewal.prepare's CSR with the old key: %v", err)
		}
		r := g.c.result("renewal.prepare", g.params(map[string]any{"cert": certID}))
		if r["key"] == certID {
			t.Fatal("renewal.prepare kept the old key")
		}
		if err := gosttest.OpenSSLCSR(t, []byte(r["csr"].(string))); err != nil {
			t.Fatalf("renewal.prepare's CSR: %v", err)
		}
		block, _ := pem.Decode([]byte(r["csr"].(string)))
		if !strings.Contains(string(block.Bytes), "GOST Signer") {
			t.Error("the renewal CSR lacks the old subject")
		}
		cert := g.ca.Issue(t, []byte(r["csr"].(string)))
		newID := g.c.result("renewal.complete", g.params(map[string]any{
			"certificate": base64.StdEncoding.EncodeToString(cert.Raw), "replaces": certID, "removeOld": true,
		}))["cert"]
		if newID != r["key"] {
			t.Errorf("renewal.complete: %v, want the new key's id %v", newID, r["key"])
		}
		list := g.c.result("certs.list", map[string]any{"token": g.token})["certificates"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["id"] != newID || list[0].(map[string]any)["paramSet"] != "CryptoPro-A" {
			t.Errorf("after renewal: %v", list)
		}
		sig := g.c.result("sign", g.params(map[string]any{"cert": newID, "data": b64, "digestAlgorithm": "STREEBOG-256", "format": "cms"}))["signature"]
		if err := gosttest.OpenSSLCMS(t, g.ca.PEM, decode64(t, sig), data, nil); err != nil {
			t.Errorf("a signature with the renewed key: %v", err)
		}
	})
}

// TestGOSTOnStockSoftHSM asks Debian's SoftHSM, built without GOST, for a
// GOST key.
func TestGOSTOnStockSoftHSM(t *testing.T) {
	s := newSigning(t)
	r := s.c.call("keys.generate", map[string]any{"token": s.token, "pin": lcUserPIN, "algorithm": "GOST-2012-256"})
	wantError(t, r, 1020, "MECHANISM_UNSUPPORTED")
	r = s.c.call("sign", s.params("EC-P256", map[string]any{"data": "aGk=", "digestAlgorithm": "STREEBOG-256"}))
	wantError(t, r, -32602, "INVALID_PARAMS")
}

// flipped is b with the byte at i changed.
func flipped(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x01
	return out
}

// TestGOSTBesideStockSoftHSM loads Debian's SoftHSM and the GOST build into
// one agent, over the same token directory: each module shows the token;
// only the GOST build makes GOST keys, and both list the certificate.
func TestGOSTBesideStockSoftHSM(t *testing.T) {
	env := softhsm.NewGOST(t)
	stock, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InitToken("gost", lcSOPIN, lcUserPIN); err != nil {
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
	gen := map[string]any{"pin": lcUserPIN, "algorithm": "GOST-2012-256"}
	wantError(t, c.call("keys.generate", merge(gen, map[string]any{"token": byModule[stock]})), 1020, "MECHANISM_UNSUPPORTED")
	key := c.result("keys.generate", merge(gen, map[string]any{"token": byModule[env.Module]}))["key"]
	ca := gosttest.NewCA(t, "GOST CA")
	csr := c.result("csr.create", map[string]any{"token": byModule[env.Module], "pin": lcUserPIN, "key": key,
		"subject": map[string]any{"commonName": "Both"}})["csr"].(string)
	cert := ca.Issue(t, []byte(csr))
	certID := c.result("certs.import", map[string]any{"token": byModule[env.Module], "pin": lcUserPIN, "certificate": base64.StdEncoding.EncodeToString(cert.Raw)})["cert"]
	sign := map[string]any{"pin": lcUserPIN, "cert": certID, "data": "aGk=", "digestAlgorithm": "STREEBOG-256"}
	c.result("sign", merge(sign, map[string]any{"token": byModule[env.Module]}))
	wantError(t, c.call("sign", merge(sign, map[string]any{"token": byModule[stock]})), 1020, "MECHANISM_UNSUPPORTED")
	for module, id := range byModule {
		list := c.result("certs.list", map[string]any{"token": id})["certificates"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["keyAlgorithm"] != "GOST-2012" || list[0].(map[string]any)["paramSet"] != "CryptoPro-A" {
			t.Errorf("%s lists %v", module, list)
		}
	}
}
