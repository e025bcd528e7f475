package token_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/tokenagent/tokenagent/internal/p11shim"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
)

// noCalls checks that none of fns is in the shim's call log.
func noCalls(t *testing.T, ctl *p11shim.Control, fns ...string) {
	t.Helper()
	for _, fn := range fns {
		if n := ctl.Called(t, fn); n != 0 {
			t.Errorf("%s called %d times", fn, n)
		}
	}
}

func TestReadOnlyTokenRefusesWrites(t *testing.T) {
	ctl, m := shimmed(t)
	ctl.Set(t, "slot_label = bob", "token_flags_set = CKF_WRITE_PROTECTED")
	tokens := tokensByLabel(t, m)
	bob, alice := tokens["bob"], tokens["alice"]
	if !bob.ReadOnly || alice.ReadOnly {
		t.Fatalf("ReadOnly: bob %v, alice %v; want true, false", bob.ReadOnly, alice.ReadOnly)
	}
	ctx := context.Background()
	noop := func(*token.Session) error { return nil }
	for name, call := range map[string]func() error{
		"a write": func() error { return m.Login(ctx, bob.ID, token.Credentials{PIN: []byte(userPIN), Writes: true}, noop) },
		"a key generation": func() error {
			return m.Login(ctx, bob.ID, token.Credentials{PIN: []byte(userPIN), Generates: token.ECP256}, noop)
		},
		"a PIN change":       func() error { return m.ChangePIN(ctx, bob.ID, []byte(userPIN), []byte("4321"), false) },
		"a PIN unlock":       func() error { return m.UnlockPIN(ctx, bob.ID, []byte(soPIN), []byte("4321"), false) },
		"a write, wrong PIN": func() error { return m.Login(ctx, bob.ID, token.Credentials{PIN: []byte("0000"), Writes: true}, noop) },
	} {
		t.Run(name, func(t *testing.T) {
			ctl.ClearCalls(t)
			if err := call(); !errors.Is(err, token.ErrReadOnly) {
				t.Errorf("err = %v, want ErrReadOnly", err)
			}
			noCalls(t, ctl, "C_Login", "C_OpenSession", "C_SetPIN", "C_InitPIN")
		})
	}
	// A session on it is read-only, and reading still works: logged in, a
	// write that slips through is refused by the session too.
	err := m.Login(ctx, bob.ID, token.Credentials{PIN: []byte(userPIN)}, func(s *token.Session) error {
		if _, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.ECP256}, "k"); !errors.Is(err, token.ErrReadOnly) {
			t.Errorf("GenerateKeyPair on a read-only token: %v, want ErrReadOnly", err)
		}
		_, err := s.Certificates()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	noCalls(t, ctl, "C_GenerateKeyPair")
	// The other token is not read-only.
	if err := m.Login(ctx, alice.ID, token.Credentials{PIN: []byte(userPIN), Writes: true}, noop); err != nil {
		t.Errorf("alice: %v", err)
	}
}

// openKey makes, on SoftHSM token label, an EC-P256 key pair whose private
// key is not private (CKA_PRIVATE false): what a token that needs no login
// holds. It returns the key's CKA_ID.
func openKey(t *testing.T, env *softhsm.Env, label string) []byte {
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
		ti, err := p.GetTokenInfo(slot)
		if err != nil || ti.Label != label {
			continue
		}
		sh, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Login(sh, pkcs11.CKU_USER, userPIN); err != nil {
			t.Fatal(err)
		}
		params, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
		id := []byte{0x0e}
		common := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_ID, id)}
		_, _, err = p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
			append(common, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params)),
			append(common, pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true)))
		if err != nil {
			t.Fatal(err)
		}
		_ = p.Logout(sh)
		return id
	}
	t.Fatalf("no token %q", label)
	return nil
}

// TestTokenWithoutLogin checks that a token whose CKF_LOGIN_REQUIRED is
// clear is used without C_Login: its keys sign, its PINs are not tried.
func TestTokenWithoutLogin(t *testing.T) {
	f := newFixture(t)
	id := openKey(t, f.env, "bob")
	ctl := p11shim.Use(t, f.env.Module)
	m := newManager(t, p11shim.Path(t))
	ctl.Set(t, "slot_label = bob", "token_flags_clear = CKF_LOGIN_REQUIRED")
	bob := tokensByLabel(t, m)["bob"]
	if bob.PIN.LoginRequired {
		t.Fatal("bob's login required flag is not cleared")
	}
	digest := sha256.Sum256([]byte("open"))
	ctl.ClearCalls(t)
	// No PIN is checked or tried, not even an empty one.
	err := m.Login(context.Background(), bob.ID, token.Credentials{}, func(s *token.Session) error {
		keys, err := s.PrivateKeys()
		if err != nil || len(keys) != 1 || string(keys[0].CKAID) != string(id) {
			t.Fatalf("private keys = %+v, %v; want the open one", keys, err)
		}
		sig, err := s.Sign(keys[0], token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA256}, digest[:])
		if err == nil {
			verify(t, keys[0].Public, digest[:], sig)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	noCalls(t, ctl, "C_Login", "C_Logout")
}

func TestModuleWithoutKeyGeneration(t *testing.T) {
	ctl, m := shimmed(t)
	ctl.Set(t, "mechanisms_hide = CKM_EC_KEY_PAIR_GEN | CKM_RSA_PKCS_KEY_PAIR_GEN | CKM_RSA_PKCS_PSS")
	bob := tokensByLabel(t, m)["bob"].ID
	ctx := context.Background()
	noop := func(*token.Session) error { return nil }
	for _, alg := range token.KeyAlgorithms {
		ctl.ClearCalls(t)
		err := m.Login(ctx, bob, token.Credentials{PIN: []byte(userPIN), Generates: alg}, noop)
		if !errors.Is(err, token.ErrMechanismUnsupported) {
			t.Errorf("%s: err = %v, want ErrMechanismUnsupported", alg, err)
		}
		noCalls(t, ctl, "C_Login", "C_GenerateKeyPair")
	}
	// Logged in (as for a renewal, whose algorithm is known only then), the
	// mechanisms are checked before anything is asked of the token.
	ctl.ClearCalls(t)
	err := m.Login(ctx, tokensByLabel(t, m)["alice"].ID, token.Credentials{PIN: []byte(userPIN)}, func(s *token.Session) error {
		if _, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.ECP256}, "k"); !errors.Is(err, token.ErrMechanismUnsupported) {
			t.Errorf("GenerateKeyPair: %v, want ErrMechanismUnsupported", err)
		}
		key, err := s.PrivateKey("01a2") // RSA-2048
		if err != nil {
			return err
		}
		digest := sha256.Sum256([]byte("x"))
		if _, err := s.Sign(key, token.Mechanism{Scheme: token.RSAPSS, Hash: crypto.SHA256}, digest[:]); !errors.Is(err, token.ErrMechanismUnsupported) {
			t.Errorf("PSS without CKM_RSA_PKCS_PSS: %v, want ErrMechanismUnsupported", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	noCalls(t, ctl, "C_GenerateKeyPair", "C_SignInit")
}

// TestPINRefusedBeforeLogin checks that a PIN the token could only reject
// never reaches C_Login, so that a typo costs no try.
func TestPINRefusedBeforeLogin(t *testing.T) {
	ctl, m := shimmed(t)
	alice := tokensByLabel(t, m)["alice"] // SoftHSM: 4 to 255 bytes
	ctx := context.Background()
	noop := func(*token.Session) error { return nil }
	for name, pin := range map[string]string{"short": "123", "long": string(make([]byte, 256)), "empty": ""} {
		t.Run(name, func(t *testing.T) {
			ctl.ClearCalls(t)
			for what, err := range map[string]error{
				"login":          m.Login(ctx, alice.ID, token.Credentials{PIN: []byte(pin)}, noop),
				"old PIN":        m.ChangePIN(ctx, alice.ID, []byte(pin), []byte("4321"), false),
				"new PIN":        m.ChangePIN(ctx, alice.ID, []byte(userPIN), []byte(pin), false),
				"unlock new PIN": m.UnlockPIN(ctx, alice.ID, []byte(soPIN), []byte(pin), false),
			} {
				var pe *token.PINError
				if !errors.As(err, &pe) || pe.Problem != token.PINInvalid || pe.State.MinLen != 4 || pe.State.MaxLen != 255 {
					t.Errorf("%s: err = %v, want PINInvalid with lengths 4..255", what, err)
				}
			}
			noCalls(t, ctl, "C_Login", "C_SetPIN", "C_InitPIN")
		})
	}
	// An empty SO PIN too; its length is not held to the user PIN's rules.
	ctl.ClearCalls(t)
	var pe *token.PINError
	if err := m.UnlockPIN(ctx, alice.ID, []byte(""), []byte("4321"), false); !errors.As(err, &pe) || pe.Problem != token.PINInvalid || !pe.SO {
		t.Errorf("empty SO PIN: %v, want PINInvalid", err)
	}
	noCalls(t, ctl, "C_Login")
}

// TestChangePINConfirmsTheOldPIN gives the token tpm2-pkcs11's C_SetPIN,
// which answers CKR_OK to a wrong old PIN and changes nothing: the login
// before it catches the wrong PIN.
func TestChangePINConfirmsTheOldPIN(t *testing.T) {
	ctl, m := shimmed(t)
	ctl.Set(t, "fail = C_SetPIN CKR_OK")
	alice := tokensByLabel(t, m)["alice"].ID
	ctl.ClearCalls(t)
	err := m.ChangePIN(context.Background(), alice, []byte("0000"), []byte("4321"), false)
	var pe *token.PINError
	if !errors.As(err, &pe) || pe.Problem != token.PINIncorrect {
		t.Fatalf("wrong old PIN: %v, want PINIncorrect", err)
	}
	if ctl.Called(t, "C_Login") != 1 {
		t.Errorf("C_Login called %d times, want once", ctl.Called(t, "C_Login"))
	}
	noCalls(t, ctl, "C_SetPIN")
}

func TestPINPad(t *testing.T) {
	ctl, m := shimmed(t)
	// The shim refuses a PIN from the caller and logs in with the one
	// "typed on the pad".
	ctl.Set(t, "slot_label = alice", "token_flags_set = CKF_PROTECTED_AUTHENTICATION_PATH", "pinpad = "+userPIN)
	alice := tokensByLabel(t, m)["alice"]
	if !alice.PIN.ProtectedAuthPath {
		t.Fatal("alice has no PIN pad")
	}
	digest := sha256.Sum256([]byte("pad"))
	for _, pin := range []string{"", "a PIN the page sent anyway"} {
		var sig []byte
		var pub crypto.PublicKey
		err := m.Login(context.Background(), alice.ID, token.Credentials{PIN: []byte(pin)}, func(s *token.Session) error {
			cert, err := s.Certificate("02")
			if err != nil {
				return err
			}
			key, err := s.KeyForCertificate(cert)
			if err != nil {
				return err
			}
			pub = key.Public
			sig, err = s.Sign(key, token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA256}, digest[:])
			return err
		})
		if err != nil {
			t.Fatalf("PIN %q: %v", pin, err)
		}
		verify(t, pub, digest[:], sig)
	}
}

// TestAlwaysAuthenticate signs with a key that needs a login for each use
// (CKA_ALWAYS_AUTHENTICATE): each signature gets a context-specific login,
// which SoftHSM enforces.
func TestAlwaysAuthenticate(t *testing.T) {
	f := newFixture(t)
	ca, err := softhsm.NewCA("PIV CA")
	if err != nil {
		t.Fatal(err)
	}
	for i, alg := range []string{"EC-P256", "RSA-2048"} {
		if _, _, err := f.env.AddKeyAndCert("bob", userPIN, ca, softhsm.CertSpec{
			KeyAlgorithm: alg, ID: []byte{0x9c, byte(i)}, Label: "PIV " + alg, AlwaysAuthenticate: true,
			Subject: pkix.Name{CommonName: "Bob " + alg},
		}); err != nil {
			t.Fatal(err)
		}
	}
	ctl := p11shim.Use(t, f.env.Module)
	m := newManager(t, p11shim.Path(t))
	bob := tokensByLabel(t, m)["bob"].ID
	const n = 3
	for _, certID := range []string{"9c00", "9c01"} {
		ctl.ClearCalls(t)
		err := m.Login(context.Background(), bob, token.Credentials{PIN: []byte(userPIN)}, func(s *token.Session) error {
			cert, err := s.Certificate(certID)
			if err != nil {
				return err
			}
			for _, key := range []func() (token.PrivateKey, error){
				func() (token.PrivateKey, error) { return s.KeyForCertificate(cert) },
				func() (token.PrivateKey, error) { return s.PrivateKey(certID) },
			} {
				k, err := key()
				if err != nil {
					return err
				}
				scheme := token.ECDSA
				if certID == "9c01" {
					scheme = token.RSAPKCS1v15
				}
				for i := range n {
					digest := sha256.Sum256([]byte{byte(i)})
					sig, err := s.Sign(k, token.Mechanism{Scheme: scheme, Hash: crypto.SHA256}, digest[:])
					if err != nil {
						return err
					}
					verify(t, cert.Cert.PublicKey, digest[:], sig)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", certID, err)
		}
		if got := ctl.Called(t, "C_Login"); got != 1+2*n {
			t.Errorf("%s: %d logins, want the user's and one per signature (%d)", certID, got, 1+2*n)
		}
	}
}
