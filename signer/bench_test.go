package signer_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// BenchmarkSign measures signing through a Key in one logged-in session,
// raw and as CMS, for the key types pages use most.
func BenchmarkSign(b *testing.B) {
	m, id := signerToken(b)
	ca, err := softhsm.NewCA("Bench CA")
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("data"))
	for _, alg := range []token.KeyAlgorithm{token.ECP256, token.RSA2048} {
		withKey(b, m, id, alg, func(k *signer.Key, pk token.PrivateKey) {
			cert, err := ca.Issue(pk.Public, pkix.Name{CommonName: string(alg)}, time.Now(), time.Now().AddDate(1, 0, 0))
			if err != nil {
				b.Fatal(err)
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
		})
	}
}
