package token_test

import (
	"context"
	"crypto"
	"encoding/asn1"
	"errors"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/internal/gosttest"
	"github.com/tokenagent/tokenagent/internal/p11shim"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/streebog"
	"github.com/tokenagent/tokenagent/token"
)

// gostToken is a token "gost" on the SoftHSM built with GOST, with a
// manager over that module through the shim, whose call log shows what
// was asked of the token. prepare runs on the token before the module is
// loaded.
func gostToken(t *testing.T, prepare func(env *softhsm.Env)) (*p11shim.Control, *token.Manager, string) {
	t.Helper()
	env := softhsm.NewGOST(t)
	if err := env.InitToken("gost", soPIN, userPIN); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(env)
	}
	ctl := p11shim.Use(t, env.Module)
	m := newManager(t, p11shim.Path(t))
	return ctl, m, tokensByLabel(t, m)["gost"].ID
}

// streebog256 is the GOST mechanism for 256-bit keys, over a digest.
var streebog256 = token.Mechanism{Scheme: token.GOSTR3410, Streebog: 256}

func TestGOSTKeysOnSoftHSM(t *testing.T) {
	ctl, m, id := gostToken(t, nil)
	ctx := context.Background()
	login := func(fn func(s *token.Session) error) error {
		return m.Login(ctx, id, token.Credentials{PIN: []byte(userPIN)}, fn)
	}
	// SoftHSM 2.6 offers the standard mechanisms only: 512-bit keys are
	// refused from its mechanism list, before any login.
	ctl.ClearCalls(t)
	err := m.Login(ctx, id, token.Credentials{PIN: []byte(userPIN), Generates: token.GOST512}, func(*token.Session) error { return nil })
	if !errors.Is(err, token.ErrMechanismUnsupported) {
		t.Errorf("a GOST-2012-512 key: %v, want ErrMechanismUnsupported", err)
	}
	noCalls(t, ctl, "C_Login", "C_GenerateKeyPair")
	made := 0
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
				made++
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
	// The parameter sets the token refused left nothing on it.
	err = login(func(s *token.Session) error {
		keys, err := s.PrivateKeys()
		if len(keys) != made {
			t.Errorf("%d private keys on the token after %d generated: %+v", len(keys), made, keys)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGOSTSignOnSoftHSM(t *testing.T) {
	ctl, m, id := gostToken(t, nil)
	err := m.Login(context.Background(), id, token.Credentials{PIN: []byte(userPIN)}, func(s *token.Session) error {
		k, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.GOST256}, "signer")
		if err != nil {
			return err
		}
		spki, err := k.Public.(*gost.PublicKey).MarshalPKIX()
		if err != nil {
			return err
		}
		data := []byte("data")
		digest := streebog.Sum256(data)
		sig, err := s.Sign(k, streebog256, digest[:])
		if err != nil || len(sig) != 64 {
			t.Fatalf("Sign = %x, %v; want s‖r of 64 bytes", sig, err)
		}
		if err := gosttest.OpenSSLRaw(t, spki, 256, data, sig); err != nil {
			t.Error(err)
		}
		// What the token does not offer, it is not asked.
		onToken := streebog256
		onToken.HashOnToken = true
		if ok, err := s.Supports(onToken); ok || err != nil {
			t.Errorf("Supports(Streebog on the token) = %v, %v; SoftHSM has no TC26 mechanisms", ok, err)
		}
		ec, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.ECP256}, "ec")
		if err != nil {
			return err
		}
		ctl.ClearCalls(t)
		for _, tt := range []struct {
			name  string
			key   token.PrivateKey
			m     token.Mechanism
			input []byte
			err   error
		}{
			{"hash on a token without Streebog", k, onToken, data, token.ErrMechanismUnsupported},
			{"512 bits with a 256-bit key", k, token.Mechanism{Scheme: token.GOSTR3410, Streebog: 512}, make([]byte, 64), token.ErrMechanismUnsupported},
			{"ECDSA with a GOST key", k, token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA256}, digest[:], token.ErrMechanismUnsupported},
			{"GOST with an EC key", ec, streebog256, digest[:], token.ErrMechanismUnsupported},
			{"short digest", k, streebog256, digest[:31], nil},
		} {
			_, err := s.Sign(tt.key, tt.m, tt.input)
			if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Errorf("%s: Sign: %v, want %v", tt.name, err, tt.err)
			}
		}
		if _, err := s.DigestStreebog(256, data); !errors.Is(err, token.ErrMechanismUnsupported) {
			t.Errorf("DigestStreebog on SoftHSM: %v, want ErrMechanismUnsupported", err)
		}
		noCalls(t, ctl, "C_SignInit", "C_DigestInit")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// alwaysAuthGOSTKey makes, on token label of env, a GOST-2012-256 key pair
// (CryptoPro-A, the set SoftHSM takes) whose private key needs a login for
// each use. pkcs11-tool cannot: it puts the parameters in the private
// template too, which SoftHSM refuses.
func alwaysAuthGOSTKey(t *testing.T, env *softhsm.Env, label string) {
	t.Helper()
	p := pkcs11.New(env.Module)
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = p.Finalize()
		p.Destroy()
	}()
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range slots {
		if ti, err := p.GetTokenInfo(slot); err != nil || ti.Label != label {
			continue
		}
		sh, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Login(sh, pkcs11.CKU_USER, userPIN); err != nil {
			t.Fatal(err)
		}
		params, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 643, 2, 2, 35, 1})
		digestParams, _ := asn1.Marshal(gost.V256.DigestOID)
		common := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{0x9c})}
		_, _, err = p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_GOSTR3410_KEY_PAIR_GEN, nil)},
			append(common, pkcs11.NewAttribute(pkcs11.CKA_GOSTR3410_PARAMS, params), pkcs11.NewAttribute(pkcs11.CKA_GOSTR3411_PARAMS, digestParams)),
			append(common, pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true), pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_AUTHENTICATE, true)))
		if err != nil {
			t.Fatal(err)
		}
		_ = p.Logout(sh)
		return
	}
	t.Fatalf("no token %q", label)
}

// TestGOSTAlwaysAuthenticate signs with a GOST key that needs a login for
// each use, which SoftHSM enforces: each signature gets its
// context-specific login with the call's PIN.
func TestGOSTAlwaysAuthenticate(t *testing.T) {
	ctl, m, id := gostToken(t, func(env *softhsm.Env) { alwaysAuthGOSTKey(t, env, "gost") })
	data := []byte("a qualified GOST signature")
	digest := streebog.Sum256(data)
	ctl.ClearCalls(t)
	err := m.Login(context.Background(), id, token.Credentials{PIN: []byte(userPIN)}, func(s *token.Session) error {
		k, err := s.PrivateKey("9c")
		if err != nil {
			return err
		}
		spki, err := k.Public.(*gost.PublicKey).MarshalPKIX()
		if err != nil {
			return err
		}
		for range 2 {
			sig, err := s.Sign(k, streebog256, digest[:])
			if err != nil {
				return err
			}
			if err := gosttest.OpenSSLRaw(t, spki, 256, data, sig); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := ctl.Called(t, "C_Login"); n != 3 {
		t.Errorf("%d logins, want the user's and one for each of 2 signatures", n)
	}
}

// TestGOSTOnStockSoftHSM: Debian's SoftHSM has no GOST.
func TestGOSTOnStockSoftHSM(t *testing.T) {
	f := newFixture(t)
	m := newManager(t, f.env.Module)
	err := loginTo(t, m, "bob", func(s *token.Session) error {
		if ok, err := s.Supports(streebog256); ok || err != nil {
			t.Errorf("Supports(GOST R 34.10-2012) = %v, %v", ok, err)
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
