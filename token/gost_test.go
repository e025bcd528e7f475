package token_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/streebog"
	"github.com/tokenagent/tokenagent/token"
)

// gostToken is a token "gost" on the SoftHSM built with GOST and a manager
// over that module alone.
func gostToken(t *testing.T) (*token.Manager, string) {
	t.Helper()
	env := softhsm.NewGOST(t)
	if err := env.InitToken("gost", "12345678", userPIN); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, env.Module)
	return m, tokensByLabel(t, m)["gost"].ID
}

func TestGOSTKeysOnSoftHSM(t *testing.T) {
	m, id := gostToken(t)
	login := func(fn func(s *token.Session) error) error {
		return m.Login(context.Background(), id, token.Credentials{PIN: userPIN}, fn)
	}
	err := login(func(s *token.Session) error {
		offer, err := s.GOSTOffer(256)
		if err != nil {
			return err
		}
		// SoftHSM 2.6 offers the standard mechanisms only.
		if offer != (token.GOSTOffer{KeyPairGen: true, Sign: true}) {
			t.Errorf("GOSTOffer(256) = %+v", offer)
		}
		if offer, err = s.GOSTOffer(512); err != nil || offer != (token.GOSTOffer{}) {
			t.Errorf("GOSTOffer(512) = %+v, %v", offer, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		spec     token.KeySpec
		paramSet string // of the key made; "" when generation fails
		err      error
	}{
		{"token's choice", token.KeySpec{Algorithm: token.GOST256}, "CryptoPro-A", nil},
		{"named", token.KeySpec{Algorithm: token.GOST256, ParamSet: "CryptoPro-A"}, "CryptoPro-A", nil},
		{"a set SoftHSM refuses", token.KeySpec{Algorithm: token.GOST256, ParamSet: "TC26-256-A"}, "", token.ErrMechanismUnsupported},
		{"a 512-bit set for a 256-bit key", token.KeySpec{Algorithm: token.GOST256, ParamSet: "TC26-512-A"}, "", token.ErrUnsupportedAlgorithm},
		{"an unknown set", token.KeySpec{Algorithm: token.GOST256, ParamSet: "CryptoPro-Z"}, "", token.ErrUnsupportedAlgorithm},
		{"512-bit keys", token.KeySpec{Algorithm: token.GOST512}, "", token.ErrMechanismUnsupported},
		{"a set for an EC key", token.KeySpec{Algorithm: token.ECP256, ParamSet: "CryptoPro-A"}, "", token.ErrUnsupportedAlgorithm},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := login(func(s *token.Session) error {
				k, err := s.GenerateKeyPair(tt.spec, tt.name)
				if err != nil {
					return err
				}
				pub, ok := k.Public.(*gost.PublicKey)
				if !ok || pub.ParamSet.Name != tt.paramSet || pub.Variant.Bits != 256 || len(pub.Point) != 64 {
					t.Errorf("public key %+v", k.Public)
				}
				if token.AlgorithmOf(pub) != token.GOST256 || token.SpecOf(pub) != (token.KeySpec{Algorithm: token.GOST256, ParamSet: tt.paramSet}) {
					t.Errorf("AlgorithmOf %q, SpecOf %+v", token.AlgorithmOf(pub), token.SpecOf(pub))
				}
				// Read back as any key on the token is.
				again, err := s.PrivateKey(k.ID)
				if err != nil || !again.Matches(pub) {
					t.Errorf("PrivateKey(%s) = %+v, %v", k.ID, again, err)
				}
				return nil
			})
			if !errors.Is(err, tt.err) {
				t.Fatalf("GenerateKeyPair(%+v): %v, want %v", tt.spec, err, tt.err)
			}
		})
	}
}

func TestGOSTSignOnSoftHSM(t *testing.T) {
	m, id := gostToken(t)
	err := m.Login(context.Background(), id, token.Credentials{PIN: userPIN}, func(s *token.Session) error {
		k, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.GOST256}, "signer")
		if err != nil {
			return err
		}
		digest := streebog.Sum256([]byte("data"))
		sig, err := s.SignGOST(k, token.GOSTMechanism{Bits: 256}, digest[:])
		if err != nil || len(sig) != 64 {
			t.Errorf("SignGOST = %x, %v; want 64 bytes", sig, err)
		}
		for _, tt := range []struct {
			name  string
			m     token.GOSTMechanism
			input []byte
			err   error
		}{
			{"hash on a token without Streebog", token.GOSTMechanism{Bits: 256, HashOnToken: true}, []byte("data"), token.ErrMechanismUnsupported},
			{"512 bits with a 256-bit key", token.GOSTMechanism{Bits: 512}, make([]byte, 64), token.ErrMechanismUnsupported},
			{"short digest", token.GOSTMechanism{Bits: 256}, digest[:31], nil},
		} {
			_, err := s.SignGOST(k, tt.m, tt.input)
			if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Errorf("%s: SignGOST: %v, want %v", tt.name, err, tt.err)
			}
		}
		if _, err := s.DigestGOST(256, []byte("data")); !errors.Is(err, token.ErrMechanismUnsupported) {
			t.Errorf("DigestGOST on SoftHSM: %v, want ErrMechanismUnsupported", err)
		}
		// An EC key is not signed with as a GOST one.
		ec, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.ECP256}, "ec")
		if err != nil {
			return err
		}
		if _, err := s.SignGOST(ec, token.GOSTMechanism{Bits: 256}, digest[:]); !errors.Is(err, token.ErrMechanismUnsupported) {
			t.Errorf("SignGOST with an EC key: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGOSTOnStockSoftHSM: Debian's SoftHSM has no GOST.
func TestGOSTOnStockSoftHSM(t *testing.T) {
	f := newFixture(t)
	m := newManager(t, f.env.Module)
	err := loginTo(t, m, "bob", func(s *token.Session) error {
		if offer, err := s.GOSTOffer(256); err != nil || offer != (token.GOSTOffer{}) {
			t.Errorf("GOSTOffer(256) = %+v, %v", offer, err)
		}
		_, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.GOST256}, "gost")
		return err
	})
	if !errors.Is(err, token.ErrMechanismUnsupported) {
		t.Errorf("GenerateKeyPair(GOST-2012-256): %v, want ErrMechanismUnsupported", err)
	}
}

func TestKeySpecCheck(t *testing.T) {
	for _, tt := range []struct {
		spec token.KeySpec
		ok   bool
	}{
		{token.KeySpec{Algorithm: token.RSA2048}, true},
		{token.KeySpec{Algorithm: token.GOST256}, true},
		{token.KeySpec{Algorithm: token.GOST512}, true},
		{token.KeySpec{Algorithm: token.GOST256, ParamSet: "TC26-256-A"}, true},
		{token.KeySpec{Algorithm: token.GOST256, ParamSet: "CryptoPro-XchB"}, true},
		{token.KeySpec{Algorithm: token.GOST512, ParamSet: "TC26-512-C"}, true},
		{token.KeySpec{Algorithm: token.GOST512, ParamSet: "CryptoPro-A"}, false},
		{token.KeySpec{Algorithm: token.GOST256, ParamSet: "TC26-512-A"}, false},
		{token.KeySpec{Algorithm: token.GOST256, ParamSet: "cryptopro-a"}, false},
		{token.KeySpec{Algorithm: token.ECP256, ParamSet: "CryptoPro-A"}, false},
		{token.KeySpec{ParamSet: "CryptoPro-A"}, false},
		{token.KeySpec{Algorithm: "GOST-2001"}, false},
		{token.KeySpec{}, false},
	} {
		err := tt.spec.Check()
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, token.ErrUnsupportedAlgorithm)) {
			t.Errorf("%+v: Check() = %v, want ok=%v", tt.spec, err, tt.ok)
		}
	}
}
