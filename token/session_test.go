package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
)

const (
	userPIN = "1234"
	soPIN   = "12345678"
)

// loginTo runs fn logged in to the token labelled label as the user.
func loginTo(t *testing.T, m *token.Manager, label string, fn func(s *token.Session) error) error {
	t.Helper()
	return m.Login(context.Background(), tokensByLabel(t, m)[label].ID, token.Credentials{PIN: []byte(userPIN)}, fn)
}

func TestGenerateImportSignDelete(t *testing.T) {
	f := newFixture(t)
	ca, err := softhsm.NewCA("Other CA")
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, f.env.Module)
	for _, alg := range []token.KeyAlgorithm{token.RSA2048, token.ECP256, token.ECP384} {
		t.Run(string(alg), func(t *testing.T) {
			var key token.PrivateKey
			err := loginTo(t, m, "bob", func(s *token.Session) error {
				var err error
				key, err = s.GenerateKeyPair(token.KeySpec{Algorithm: alg}, "new-"+string(alg))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(key.CKAID) != 20 || key.Public == nil || token.AlgorithmOf(key.Public) != alg {
				t.Fatalf("key = %+v", key)
			}
			cert, err := ca.Issue(key.Public, pkix.Name{CommonName: "Bob " + string(alg)}, time.Now(), time.Now().AddDate(1, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			digest := sha256.Sum256([]byte("hello"))
			err = loginTo(t, m, "bob", func(s *token.Session) error {
				again, err := s.PrivateKey(key.ID)
				if err != nil {
					return err
				}
				id, err := s.ImportCertificate(cert, "")
				if err != nil {
					return err
				}
				if id != key.ID {
					t.Errorf("certificate id %s, want the key's %s", id, key.ID)
				}
				if dup, err := s.ImportCertificate(cert, "other label"); err != nil || dup != id {
					t.Errorf("re-import = %s, %v; want %s stored once", dup, err, id)
				}
				scheme := token.ECDSA
				if _, ok := key.Public.(*rsa.PublicKey); ok {
					scheme = token.RSAPKCS1v15
				}
				sig, err := s.Sign(again, token.Mechanism{Scheme: scheme, Hash: crypto.SHA256}, digest[:])
				if err != nil {
					return err
				}
				verify(t, key.Public, digest[:], sig)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			certs, err := m.Certificates(context.Background(), tokensByLabel(t, m)["bob"].ID)
			if err != nil || len(certs) != 1 || certs[0].Label != "Bob "+string(alg) {
				t.Fatalf("bob's certificates = %+v, %v; want the imported one", certs, err)
			}
			err = loginTo(t, m, "bob", func(s *token.Session) error {
				mine, err := s.Certificates()
				if err != nil || len(mine) != 1 {
					t.Fatalf("certificates in the session = %v, %v", mine, err)
				}
				if err := s.DeleteCertificate(mine[0]); err != nil {
					return err
				}
				n, err := s.DeleteKey(key.ID)
				if n != 2 {
					t.Errorf("DeleteKey deleted %d objects, want 2", n)
				}
				if err != nil {
					return err
				}
				if _, err := s.PrivateKey(key.ID); !errors.Is(err, token.ErrObjectNotFound) {
					t.Errorf("key after delete: %v", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func verify(t *testing.T, pub crypto.PublicKey, digest, sig []byte) {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig); err != nil {
			t.Errorf("RSA signature: %v", err)
		}
	case *ecdsa.PublicKey:
		n := len(sig) / 2
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		if !ecdsa.Verify(k, digest, r, s) {
			t.Error("ECDSA signature does not verify")
		}
	}
}

func TestImportForeignCertificate(t *testing.T) {
	f := newFixture(t)
	ca, err := softhsm.NewCA("Other CA")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := softhsm.GenerateKey("EC-P256")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(foreign.Public(), pkix.Name{CommonName: "Nobody"}, time.Now(), time.Now().AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, f.env.Module)
	err = loginTo(t, m, "alice", func(s *token.Session) error {
		_, err := s.ImportCertificate(cert, "")
		return err
	})
	if !errors.Is(err, token.ErrKeyNotFound) {
		t.Errorf("err = %v, want ErrKeyNotFound", err)
	}
}

func TestPINs(t *testing.T) {
	f := newFixture(t)
	m := newManager(t, f.env.Module)
	id := tokensByLabel(t, m)["alice"].ID
	ctx := context.Background()
	noop := func(*token.Session) error { return nil }

	err := m.Login(ctx, id, token.Credentials{PIN: []byte("0000")}, noop)
	var pe *token.PINError
	if !errors.As(err, &pe) || pe.Problem != token.PINIncorrect || pe.SO || !pe.State.CountLow {
		t.Fatalf("wrong PIN: %#v; want PINIncorrect with the count-low flag SoftHSM sets", err)
	}
	if !tokensByLabel(t, m)["alice"].PIN.CountLow {
		t.Error("count-low flag not in the token info after a wrong PIN")
	}
	for _, bad := range []string{"12", string(make([]byte, 300))} {
		err = m.ChangePIN(ctx, id, []byte(userPIN), []byte(bad), false)
		if !errors.As(err, &pe) || pe.Problem != token.PINInvalid || pe.State.MinLen != 4 || pe.State.MaxLen != 255 {
			t.Errorf("new PIN of %d bytes: %v; want PINInvalid with lengths 4..255", len(bad), err)
		}
	}
	if err := m.ChangePIN(ctx, id, []byte("0000"), []byte("5678"), false); !errors.As(err, &pe) || pe.Problem != token.PINIncorrect {
		t.Errorf("change with a wrong old PIN: %v", err)
	}
	if err := m.ChangePIN(ctx, id, []byte(userPIN), []byte("5678"), false); err != nil {
		t.Fatalf("change: %v", err)
	}
	if err := m.Login(ctx, id, token.Credentials{PIN: []byte("5678")}, noop); err != nil {
		t.Fatalf("login with the new PIN: %v", err)
	}
	if err := m.UnlockPIN(ctx, id, []byte("00000000"), []byte("4321"), false); !errors.As(err, &pe) || pe.Problem != token.PINIncorrect || !pe.SO {
		t.Errorf("unlock with a wrong SO PIN: %v", err)
	}
	if err := m.UnlockPIN(ctx, id, []byte(soPIN), []byte("4321"), false); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if err := m.Login(ctx, id, token.Credentials{PIN: []byte("4321")}, noop); err != nil {
		t.Fatalf("login with the unlocked PIN: %v", err)
	}
}

func TestSignMechanisms(t *testing.T) {
	f := newFixture(t)
	m := newManager(t, f.env.Module)
	digest := sha256.Sum256([]byte("data"))
	err := loginTo(t, m, "alice", func(s *token.Session) error {
		key, err := s.PrivateKey("02") // EC-P256
		if err != nil {
			return err
		}
		for _, tt := range []struct {
			m    token.Mechanism
			want bool
		}{
			{token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA256}, true},
			{token.Mechanism{Scheme: token.RSAPKCS1v15, Hash: crypto.SHA256, HashOnToken: true}, true},
			{token.Mechanism{Scheme: token.RSAPSS, Hash: crypto.SHA512}, true},
			// SoftHSM has no hash-and-sign ECDSA: the agent must hash.
			{token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA256, HashOnToken: true}, false},
		} {
			if got, err := s.Supports(tt.m); err != nil || got != tt.want {
				t.Errorf("Supports(%+v) = %v, %v; want %v", tt.m, got, err, tt.want)
			}
		}
		_, err = s.Sign(key, token.Mechanism{Scheme: token.RSAPKCS1v15, Hash: crypto.SHA256}, digest[:])
		if !errors.Is(err, token.ErrMechanismUnsupported) {
			t.Errorf("RSA mechanism on an EC key: %v, want ErrMechanismUnsupported", err)
		}
		_, err = s.Sign(key, token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA384}, digest[:])
		if err == nil {
			t.Error("a SHA-256 digest passed as SHA-384 was signed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
