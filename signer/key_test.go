package signer_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// signerToken opens a fresh SoftHSM token and returns its manager and id.
func signerToken(tb testing.TB) (*token.Manager, string) {
	tb.Helper()
	env := softhsm.New(tb)
	if err := env.InitToken("signer", "12345678", "1234"); err != nil {
		tb.Fatal(err)
	}
	m := token.NewManager([]string{env.Module}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tb.Cleanup(func() { _ = m.Close() })
	tokens, err := m.Tokens(context.Background())
	if err != nil || len(tokens) != 1 {
		tb.Fatalf("tokens = %v, %v", tokens, err)
	}
	return m, tokens[0].ID
}

// withKey logs in to the token and runs fn with a signer for a new key of
// algorithm alg.
func withKey(tb testing.TB, m *token.Manager, id string, alg token.KeyAlgorithm, fn func(k *signer.Key, pk token.PrivateKey)) {
	tb.Helper()
	err := m.Login(context.Background(), id, token.Credentials{PIN: []byte("1234")}, func(s *token.Session) error {
		pk, err := s.GenerateKeyPair(token.KeySpec{Algorithm: alg}, string(alg))
		if err != nil {
			return err
		}
		k, err := signer.New(s, pk)
		if err != nil {
			return err
		}
		fn(k, pk)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// withKeys runs fn with a signer for each algorithm's key, generated on a
// SoftHSM token.
func withKeys(t *testing.T, algs []token.KeyAlgorithm, fn func(t *testing.T, k *signer.Key)) {
	m, id := signerToken(t)
	for _, alg := range algs {
		t.Run(string(alg), func(t *testing.T) {
			withKey(t, m, id, alg, func(k *signer.Key, _ token.PrivateKey) { fn(t, k) })
		})
	}
}

func TestCSRVerifiesWithOpenSSL(t *testing.T) {
	withKeys(t, []token.KeyAlgorithm{token.RSA2048, token.ECP256, token.ECP384}, func(t *testing.T, k *signer.Key) {
		tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Alice", Organization: []string{"Example"}}}
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		openssl.WriteFiles(t, dir, map[string][]byte{"req.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})})
		out, ok := openssl.Run(t, dir, "req", "-in", "req.pem", "-verify", "-noout", "-subject")
		// openssl req -verify exits 0 even when the signature is bad.
		if !ok || !strings.Contains(out, "verify OK") || !strings.Contains(out, "CN") || !strings.Contains(out, "Alice") {
			t.Errorf("openssl req -verify: %s", out)
		}
	})
}

func TestSignaturesVerifyWithOpenSSL(t *testing.T) {
	data := []byte("the document")
	withKeys(t, []token.KeyAlgorithm{token.RSA2048, token.ECP256}, func(t *testing.T, k *signer.Key) {
		pubDER, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		openssl.WriteFiles(t, dir, map[string][]byte{
			"pub.pem":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
			"data.bin": data,
		})
		type variant struct {
			name string
			opts crypto.SignerOpts
			args []string
		}
		variants := []variant{
			{"SHA-256", crypto.SHA256, []string{"-sha256"}},
			{"SHA-512", crypto.SHA512, []string{"-sha512"}},
		}
		if _, ok := k.Public().(*rsa.PublicKey); ok {
			variants = append(variants,
				variant{"PSS SHA-256", &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256},
					[]string{"-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"}},
				variant{"PSS SHA-384", &rsa.PSSOptions{SaltLength: 48, Hash: crypto.SHA384},
					[]string{"-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48"}})
		}
		for _, v := range variants {
			h := v.opts.HashFunc().New()
			h.Write(data)
			fromDigest, err := k.Sign(rand.Reader, h.Sum(nil), v.opts)
			if err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
			fromData, err := k.SignData(data, v.opts)
			if err != nil {
				t.Fatalf("%s SignData: %v", v.name, err)
			}
			for name, sig := range map[string][]byte{"digest": fromDigest, "data": fromData} {
				openssl.WriteFiles(t, dir, map[string][]byte{"sig.bin": sig})
				args := append([]string{"dgst"}, v.args...)
				args = append(args, "-verify", "pub.pem", "-signature", "sig.bin", "data.bin")
				if out, ok := openssl.Run(t, dir, args...); !ok {
					t.Errorf("%s over the %s: openssl dgst -verify: %s", v.name, name, out)
				}
			}
		}
		// A signature over other data must not verify: the check can fail.
		sum := sha256.Sum256([]byte("other"))
		sig, err := k.Sign(rand.Reader, sum[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		openssl.WriteFiles(t, dir, map[string][]byte{"sig.bin": sig})
		if out, ok := openssl.Run(t, dir, "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "data.bin"); ok {
			t.Errorf("a signature over other data verified: %s", out)
		}
	})
}

func TestUnsupportedOptions(t *testing.T) {
	withKeys(t, []token.KeyAlgorithm{token.RSA2048}, func(t *testing.T, k *signer.Key) {
		sum := sha512.Sum512_224([]byte("x"))
		for name, opts := range map[string]crypto.SignerOpts{
			"SHA-512/224":  crypto.SHA512_224,
			"SHA-1":        crypto.SHA1,
			"PSS salt 20":  &rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA256},
			"PSS salt max": &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256},
		} {
			if _, err := k.Sign(rand.Reader, sum[:], opts); !errors.Is(err, signer.ErrUnsupported) {
				t.Errorf("%s: %v, want ErrUnsupported", name, err)
			}
		}
	})
}
