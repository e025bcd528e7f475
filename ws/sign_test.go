package ws

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/audit"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/streebog"
	"github.com/tokenagent/tokenagent/internal/syncbuf"
	"github.com/tokenagent/tokenagent/token"
)

// signing is an agent on a SoftHSM token "signer" holding one key and
// certificate per algorithm, and a directory with the CA and public keys
// for OpenSSL.
type signing struct {
	t     *testing.T
	c     *client
	token string
	dir   string
	certs map[string]*x509.Certificate // algorithm → certificate; the id is its position+1
	ids   map[string]string            // algorithm → certificate id
	audit *syncbuf.Buffer
}

var signingAlgorithms = []string{"RSA-2048", "RSA-3072", "EC-P256", "EC-P384"}

func newSigning(t *testing.T) *signing {
	t.Helper()
	env := softhsm.New(t)
	if err := env.InitToken("signer", lcSOPIN, lcUserPIN); err != nil {
		t.Fatal(err)
	}
	ca, err := softhsm.NewCA("Signing CA")
	if err != nil {
		t.Fatal(err)
	}
	s := &signing{t: t, dir: t.TempDir(), certs: map[string]*x509.Certificate{}, ids: map[string]string{}, audit: &syncbuf.Buffer{}}
	openssl.WriteFiles(t, s.dir, map[string][]byte{"ca.pem": ca.PEM})
	for i, alg := range signingAlgorithms {
		cert, _, err := env.AddKeyAndCert("signer", lcUserPIN, ca, softhsm.CertSpec{
			KeyAlgorithm: alg, ID: []byte{byte(i + 1)}, Label: alg, Subject: pkix.Name{CommonName: "Signer " + alg},
		})
		if err != nil {
			t.Fatal(err)
		}
		s.certs[alg], s.ids[alg] = cert, fmt.Sprintf("%02x", i+1)
		spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		openssl.WriteFiles(t, s.dir, map[string][]byte{alg + ".pub": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})})
	}
	log := slog.New(slog.DiscardHandler)
	m := token.NewManager([]string{env.Module}, log)
	t.Cleanup(func() { _ = m.Close() })
	a := agent.New(m, agent.Options{RenewBeforeDays: 30, Audit: audit.New(s.audit, log)})
	ts := startServer(t, Config{AllowNoOrigin: true}, a)
	s.c = ts.dial(t, nil)
	s.token = s.c.result("tokens.list", nil)["tokens"].([]any)[0].(map[string]any)["id"].(string)
	return s
}

// params returns sign params for alg's certificate with extra members.
func (s *signing) params(alg string, extra map[string]any) map[string]any {
	p := map[string]any{"token": s.token, "pin": lcUserPIN, "cert": s.ids[alg]}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// verifyRaw checks a raw signature over data with openssl dgst.
func (s *signing) verifyRaw(alg, hash string, pss bool, data, sig []byte) {
	s.t.Helper()
	openssl.WriteFiles(s.t, s.dir, map[string][]byte{"data.bin": data, "sig.bin": sig})
	args := []string{"dgst", "-" + strings.ToLower(strings.ReplaceAll(hash, "-", "")), "-verify", alg + ".pub", "-signature", "sig.bin"}
	if pss {
		args = append(args, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest")
	}
	if out, ok := openssl.Run(s.t, s.dir, append(args, "data.bin")...); !ok {
		s.t.Errorf("%s %s pss=%v: openssl dgst -verify: %s", alg, hash, pss, out)
	}
}

// verifyCMS checks a CMS signature with openssl cms, which with -cades also
// checks signing-certificate-v2 against the signer certificate.
func (s *signing) verifyCMS(data, sig []byte, detached bool) {
	s.t.Helper()
	openssl.WriteFiles(s.t, s.dir, map[string][]byte{"data.bin": data, "sig.p7s": sig})
	args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7s", "-CAfile", "ca.pem", "-cades", "-out", "out.bin"}
	if detached {
		args = append(args, "-content", "data.bin")
	}
	if out, ok := openssl.Run(s.t, s.dir, args...); !ok {
		s.t.Errorf("openssl cms -verify (detached %v): %s", detached, out)
	}
}

func decode64(t *testing.T, v any) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(v.(string))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func digestOf(hash string, data []byte) []byte {
	switch hash {
	case "SHA-384":
		d := sha512.Sum384(data)
		return d[:]
	case "SHA-512":
		d := sha512.Sum512(data)
		return d[:]
	case "STREEBOG-256":
		d := streebog.Sum256(data)
		return d[:]
	case "STREEBOG-512":
		d := streebog.Sum512(data)
		return d[:]
	}
	d := sha256.Sum256(data)
	return d[:]
}

func TestSignRawAndCMS(t *testing.T) {
	s := newSigning(t)
	data := []byte("a contract, signed")
	b64 := base64.StdEncoding.EncodeToString(data)
	for _, alg := range signingAlgorithms {
		isRSA := strings.HasPrefix(alg, "RSA")
		paddings := []string{"pkcs1v15"}
		if isRSA {
			paddings = append(paddings, "pss")
		}
		for _, hash := range []string{"SHA-256", "SHA-384", "SHA-512"} {
			for _, padding := range paddings {
				t.Run(alg+" "+hash+" "+padding, func(t *testing.T) {
					s.t = t
					opts := map[string]any{"digestAlgorithm": hash}
					if isRSA {
						opts["padding"] = padding
					}
					fromData := s.c.result("sign", s.params(alg, merge(opts, map[string]any{"data": b64})))
					fromDigest := s.c.result("sign", s.params(alg, merge(opts, map[string]any{"digest": base64.StdEncoding.EncodeToString(digestOf(hash, data))})))
					wantAlg := map[bool]string{true: "ECDSA-", false: "RSA-PKCS1v15-"}[!isRSA]
					if padding == "pss" {
						wantAlg = "RSA-PSS-"
					}
					wantAlg += strings.ReplaceAll(hash, "-", "")
					for _, r := range []map[string]any{fromData, fromDigest} {
						keys(t, "sign", r, "signature", "format", "algorithm")
						if r["format"] != "raw" || r["algorithm"] != wantAlg {
							t.Errorf("format %v, algorithm %v; want raw, %s", r["format"], r["algorithm"], wantAlg)
						}
						s.verifyRaw(alg, hash, padding == "pss", data, decode64(t, r["signature"]))
					}
					if isRSA && padding == "pkcs1v15" && fromData["signature"] != fromDigest["signature"] {
						t.Error("PKCS#1 v1.5 over the data and over its digest differ")
					}
					for _, detached := range []bool{true, false} {
						if padding == "pss" && !detached {
							continue // one PSS CMS shape is enough
						}
						r := s.c.result("sign", s.params(alg, merge(opts, map[string]any{"data": b64, "format": "cms", "detached": detached})))
						if r["format"] != "cms" || r["algorithm"] != wantAlg {
							t.Errorf("cms: format %v, algorithm %v", r["format"], r["algorithm"])
						}
						s.verifyCMS(data, decode64(t, r["signature"]), detached)
					}
					r := s.c.result("sign", s.params(alg, merge(opts, map[string]any{"digest": base64.StdEncoding.EncodeToString(digestOf(hash, data)), "format": "cms"})))
					s.verifyCMS(data, decode64(t, r["signature"]), true)
				})
			}
		}
	}
	// The checks can fail: a signature over other data is rejected.
	s.t = t
	r := s.c.result("sign", s.params("EC-P256", map[string]any{"data": base64.StdEncoding.EncodeToString([]byte("other"))}))
	openssl.WriteFiles(t, s.dir, map[string][]byte{"data.bin": data, "sig.bin": decode64(t, r["signature"])})
	if out, ok := openssl.Run(t, s.dir, "dgst", "-sha256", "-verify", "EC-P256.pub", "-signature", "sig.bin", "data.bin"); ok {
		t.Errorf("a signature over other data verified: %s", out)
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestSignBatch(t *testing.T) {
	s := newSigning(t)
	items := make([]any, 100)
	docs := make([][]byte, 100)
	for i := range items {
		docs[i] = []byte(fmt.Sprintf("document %d", i))
		if i%2 == 0 {
			items[i] = map[string]any{"data": base64.StdEncoding.EncodeToString(docs[i])}
		} else {
			items[i] = map[string]any{"digest": base64.StdEncoding.EncodeToString(digestOf("SHA-256", docs[i]))}
		}
	}
	for _, alg := range []string{"EC-P256", "RSA-2048"} {
		r := s.c.result("sign.batch", s.params(alg, map[string]any{"items": items}))
		sigs := r["signatures"].([]any)
		if len(sigs) != 100 {
			t.Fatalf("%d signatures, want 100", len(sigs))
		}
		for i, sig := range sigs {
			sm := keys(t, "signature", sig, "signature", "format", "algorithm")
			s.verifyRaw(alg, "SHA-256", false, docs[i], decode64(t, sm["signature"]))
		}
	}
	lines := strings.Count(s.audit.String(), `"method":"sign.batch"`)
	if lines != 200 {
		t.Errorf("%d audit lines for two batches of 100, want one per item", lines)
	}

	// One bad item fails the whole call before anything is signed.
	s.audit = &syncbuf.Buffer{}
	for name, bad := range map[string]any{
		"both":         map[string]any{"data": "eA==", "digest": base64.StdEncoding.EncodeToString(digestOf("SHA-256", nil))},
		"neither":      map[string]any{},
		"short digest": map[string]any{"digest": "eA=="},
		"bad base64":   map[string]any{"data": "not base64!"},
		"not object":   "eA==",
	} {
		bad := append(append(append([]any{}, items[:57]...), bad), items[58:]...)
		before := strings.Count(s.audit.String(), `"outcome":"ok"`)
		r := s.c.call("sign.batch", s.params("EC-P256", map[string]any{"items": bad}))
		wantError(t, r, -32602, "INVALID_PARAMS")
		if r.Error.Data["index"] != float64(57) {
			t.Errorf("%s: error data %v, want index 57", name, r.Error.Data)
		}
		if after := strings.Count(s.audit.String(), `"outcome":"ok"`); after != before {
			t.Errorf("%s: %d items signed", name, after-before)
		}
	}
	for _, n := range []int{0, 1001} {
		r := s.c.call("sign.batch", s.params("EC-P256", map[string]any{"items": make([]any, n)}))
		wantError(t, r, -32602, "INVALID_PARAMS")
	}
}

func TestSignInvalidCombinations(t *testing.T) {
	s := newSigning(t)
	d256 := base64.StdEncoding.EncodeToString(digestOf("SHA-256", []byte("x")))
	for name, extra := range map[string]map[string]any{
		"data and digest":          {"data": "eA==", "digest": d256},
		"neither data nor digest":  {},
		"digest of the wrong size": {"digest": d256, "digestAlgorithm": "SHA-512"},
		"digest, attached CMS":     {"digest": d256, "format": "cms", "detached": false},
		"unknown digest":           {"data": "eA==", "digestAlgorithm": "MD5"},
		"unknown format":           {"data": "eA==", "format": "pdf"},
		"unknown padding":          {"data": "eA==", "padding": "oaep"},
		"PSS on an EC key":         {"data": "eA==", "padding": "pss"},
		"bad base64":               {"data": "%%%"},
		"unpadded base64":          {"data": "eA"},
		"detached not a boolean":   {"data": "eA==", "detached": "yes"},
		"data not a string":        {"data": 12},
		"cert missing":             {"data": "eA==", "cert": nil},
		"pin not a string":         {"data": "eA==", "pin": 1234},
		"confirmFinalTry a string": {"data": "eA==", "confirmFinalTry": "true"},
	} {
		r := s.c.call("sign", s.params("EC-P256", extra))
		if r.Error == nil || r.Error.Code != -32602 || r.Error.Data["reason"] != "INVALID_PARAMS" {
			t.Errorf("%s: %+v, want INVALID_PARAMS", name, r.Error)
		}
	}
	wantError(t, s.c.call("sign", s.params("EC-P256", map[string]any{"data": "eA==", "cert": "77"})), 1002, "OBJECT_NOT_FOUND")
	wantError(t, s.c.call("sign", s.params("EC-P256", map[string]any{"data": "eA==", "token": unknownToken})), 1001, "TOKEN_NOT_FOUND")
	s.c.stillServes()
}
