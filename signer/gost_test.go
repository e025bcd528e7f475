package signer_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/internal/gosttest"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/streebog"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// withGOSTKey runs fn with a signer for a new GOST-2012-256 key on the
// SoftHSM built with GOST, and the key's certificate from a GOST CA.
func withGOSTKey(t testing.TB, fn func(k *signer.Key, cert *x509.Certificate, ca *gosttest.CA)) {
	t.Helper()
	env := softhsm.NewGOST(t)
	if err := env.InitToken("gost", "12345678", "1234"); err != nil {
		t.Fatal(err)
	}
	m := token.NewManager([]string{env.Module}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	tokens, err := m.Tokens(context.Background())
	if err != nil || len(tokens) != 1 {
		t.Fatalf("tokens = %v, %v", tokens, err)
	}
	ca := gosttest.NewCA(t, "Signer GOST CA")
	err = m.Login(context.Background(), tokens[0].ID, token.Credentials{PIN: []byte("1234")}, func(s *token.Session) error {
		pk, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.GOST256}, "gost")
		if err != nil {
			return err
		}
		k, err := signer.New(s, pk)
		if err != nil {
			return err
		}
		csr, err := signer.CreateGOSTCertificateRequest(k, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "GOST Signer"}})
		if err != nil {
			return err
		}
		fn(k, ca.Issue(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})), ca)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGOSTRawSignatures(t *testing.T) {
	withGOSTKey(t, func(k *signer.Key, _ *x509.Certificate, _ *gosttest.CA) {
		spki, err := k.Public().(*gost.PublicKey).MarshalPKIX()
		if err != nil {
			t.Fatal(err)
		}
		data := []byte("raw GOST signature")
		digest := streebog.Sum256(data)
		fromData, err := k.SignData(data, signer.Streebog256)
		if err != nil {
			t.Fatal(err)
		}
		fromDigest, err := k.Sign(nil, digest[:], signer.Streebog256)
		if err != nil {
			t.Fatal(err)
		}
		for _, sig := range [][]byte{fromData, fromDigest} {
			if err := gosttest.OpenSSLRaw(t, spki, 256, data, sig); err != nil {
				t.Error(err)
			}
			if err := gosttest.BotanRaw(t, spki, 256, data, sig); err != nil {
				t.Error(err)
			}
		}
		if d, err := k.Digest(data); err != nil || string(d) != string(digest[:]) {
			t.Errorf("Digest = %x, %v; want %x", d, err, digest)
		}
		for _, tt := range []struct {
			name   string
			digest []byte
			opts   crypto.SignerOpts
			err    error
		}{
			{"SHA-256", digest[:], crypto.SHA256, signer.ErrUnsupportedHash},
			{"Streebog-512", make([]byte, 64), signer.Streebog512, signer.ErrUnsupportedHash},
		} {
			if _, err := k.Sign(nil, tt.digest, tt.opts); !errors.Is(err, tt.err) {
				t.Errorf("%s: Sign: %v, want %v", tt.name, err, tt.err)
			}
		}
		// The token refuses a digest of the wrong length before it is asked.
		if _, err := k.Sign(nil, digest[:31], signer.Streebog256); err == nil {
			t.Error("Sign signed a short digest")
		}
	})
}

func TestGOSTCertificateRequest(t *testing.T) {
	withGOSTKey(t, func(k *signer.Key, _ *x509.Certificate, _ *gosttest.CA) {
		der, err := signer.CreateGOSTCertificateRequest(k, &x509.CertificateRequest{
			Subject:        pkix.Name{CommonName: "Иван Петров", Organization: []string{"ООО Пример"}, Country: []string{"RU"}},
			DNSNames:       []string{"signer.example.ru"},
			EmailAddresses: []string{"ivan@example.ru"},
		})
		if err != nil {
			t.Fatal(err)
		}
		csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
		if err := gosttest.OpenSSLCSR(t, csrPEM); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		openssl.WriteFiles(t, dir, map[string][]byte{"req.pem": csrPEM})
		text, ok := openssl.RunGOST(t, dir, "req", "-in", "req.pem", "-noout", "-text", "-nameopt", "utf8")
		for _, want := range []string{
			"CN=Иван Петров", "O=ООО Пример", "C=RU", "DNS:signer.example.ru", "email:ivan@example.ru",
			"GOST R 34.10-2012 with 256 bit modulus", "id-GostR3410-2001-CryptoPro-A-ParamSet",
			"GOST R 34.10-2012 with GOST R 34.11-2012 (256 bit)",
		} {
			if !ok || !strings.Contains(text, want) {
				t.Errorf("openssl req -text lacks %q:\n%s", want, text)
			}
		}
		// The check can fail: a request with one byte of its signature changed.
		der[len(der)-3] ^= 1
		if gosttest.OpenSSLCSR(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})) == nil {
			t.Error("openssl verified a tampered request")
		}
		if _, err := signer.CreateGOSTCertificateRequest(k, &x509.CertificateRequest{EmailAddresses: []string{"иван@example.ru"}}); err == nil {
			t.Error("a non-ASCII email address was encoded as an IA5String")
		}
	})
}

func TestGOSTCMS(t *testing.T) {
	withGOSTKey(t, func(k *signer.Key, cert *x509.Certificate, ca *gosttest.CA) {
		content := []byte("CMS with GOST R 34.10-2012")
		digest := streebog.Sum256(content)
		opts := signer.CMSOptions{Streebog: signer.Streebog256, Detached: true, SigningTime: time.Now()}
		detached, err := signer.SignCMS(k, cert, content, opts)
		if err != nil {
			t.Fatal(err)
		}
		fromDigest, err := signer.SignCMSDigest(k, cert, digest[:], opts)
		if err != nil {
			t.Fatal(err)
		}
		attachedOpts := opts
		attachedOpts.Detached = false
		attached, err := signer.SignCMS(k, cert, content, attachedOpts)
		if err != nil {
			t.Fatal(err)
		}
		for name, sig := range map[string][]byte{"detached": detached, "digest": fromDigest, "attached": attached} {
			in := content
			if name == "attached" {
				in = nil
			}
			if err := gosttest.OpenSSLCMS(t, ca.PEM, sig, in, content); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if err := gosttest.CertToolCMS(t, ca.PEM, sig, in); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		// signing-certificate-v2 names Streebog-256 and holds its hash of
		// the certificate (openssl -cades checked it too).
		attrs := signedAttributes(t, detached)
		essHash := streebog.Sum256(cert.Raw)
		if ess := attrs["1.2.840.113549.1.9.16.2.47"]; !strings.Contains(string(ess.FullBytes), string(essHash[:])) ||
			!strings.Contains(string(ess.FullBytes), "\x06\x08\x2a\x85\x03\x07\x01\x01\x02\x02") {
			t.Errorf("signing-certificate-v2 = %x", ess.FullBytes)
		}
		other, err := softhsm.GenerateKey("EC-P256")
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			key  crypto.Signer
			opts signer.CMSOptions
			err  error
		}{
			{"SHA-256", k, signer.CMSOptions{Hash: crypto.SHA256, Detached: true}, signer.ErrUnsupportedHash},
			{"Streebog-512", k, signer.CMSOptions{Streebog: signer.Streebog512, Detached: true}, signer.ErrUnsupportedHash},
			{"PSS", k, signer.CMSOptions{Streebog: signer.Streebog256, PSS: true, Detached: true}, signer.ErrPSSNotRSA},
			{"another key", other, opts, signer.ErrKeyMismatch},
		} {
			if _, err := signer.SignCMS(tt.key, cert, content, tt.opts); !errors.Is(err, tt.err) {
				t.Errorf("%s: SignCMS: %v, want %v", tt.name, err, tt.err)
			}
		}
		if _, err := signer.SignCMSDigest(k, cert, digest[:31], opts); !errors.Is(err, signer.ErrDigestLength) {
			t.Errorf("SignCMSDigest with a short digest: %v", err)
		}
	})
}

// BenchmarkSignGOST measures a GOST key on the GOST SoftHSM: a raw signature
// of a digest, and of 1 MiB of data hashed by the agent's Streebog, and a
// detached CMS signature of 1 KiB.
func BenchmarkSignGOST(b *testing.B) {
	withGOSTKey(b, func(k *signer.Key, cert *x509.Certificate, _ *gosttest.CA) {
		digest := streebog.Sum256([]byte("data"))
		mib, kib := make([]byte, 1<<20), make([]byte, 1<<10)
		b.Run("raw-digest", func(b *testing.B) {
			for b.Loop() {
				if _, err := k.Sign(nil, digest[:], signer.Streebog256); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("raw-data-1MiB", func(b *testing.B) {
			b.SetBytes(int64(len(mib)))
			for b.Loop() {
				if _, err := k.SignData(mib, signer.Streebog256); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("cms-1KiB", func(b *testing.B) {
			for b.Loop() {
				if _, err := signer.SignCMS(k, cert, kib, signer.CMSOptions{Streebog: signer.Streebog256, Detached: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
