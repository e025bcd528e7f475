package signer_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// BenchmarkSign measures signing through a Key in one logged-in session,
// raw and as CMS, for the key types pages use most.
func BenchmarkSign(b *testing.B) {
	env := softhsm.New(b)
	if err := env.InitToken("bench", "12345678", "1234"); err != nil {
		b.Fatal(err)
	}
	m := token.NewManager([]string{env.Module}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer m.Close()
	tokens, err := m.Tokens(context.Background())
	if err != nil || len(tokens) != 1 {
		b.Fatalf("tokens = %v, %v", tokens, err)
	}
	ca, err := softhsm.NewCA("Bench CA")
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("data"))
	for _, alg := range []token.KeyAlgorithm{token.ECP256, token.RSA2048} {
		err := m.Login(context.Background(), tokens[0].ID, token.Credentials{PIN: "1234"}, func(s *token.Session) error {
			pk, err := s.GenerateKeyPair(alg, string(alg))
			if err != nil {
				return err
			}
			k, err := signer.New(s, pk)
			if err != nil {
				return err
			}
			cert, err := ca.Issue(pk.Public, pkix.Name{CommonName: string(alg)}, time.Now(), time.Now().AddDate(1, 0, 0))
			if err != nil {
				return err
			}
			b.Run(string(alg)+"/raw", func(b *testing.B) {
				for b.Loop() {
					if _, err := k.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(string(alg)+"/cms", func(b *testing.B) {
				for b.Loop() {
					if _, err := signer.SignCMSDigest(k, cert, digest[:], signer.CMSOptions{Hash: crypto.SHA256, Detached: true}); err != nil {
						b.Fatal(err)
					}
				}
			})
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
