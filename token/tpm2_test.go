package token_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"

	"github.com/tokenagent/tokenagent/internal/p11shim"
	"github.com/tokenagent/tokenagent/internal/tpm2"
	"github.com/tokenagent/tokenagent/token"
)

// tpmFixture is a software TPM holding the tokens "interop" and "second",
// both with userPIN, which tpm2-pkcs11 gives one serial number.
func tpmFixture(t *testing.T) *tpm2.TPM {
	t.Helper()
	p := tpm2.New(t)
	for _, label := range []string{"interop", "second"} {
		if err := p.InitToken(label, soPIN, userPIN); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestTPMTokens(t *testing.T) {
	p := tpmFixture(t)
	m := token.NewManager([]string{p.Module}, quiet)
	tokens := tokensByLabel(t, m)
	interop, second := tokens["interop"], tokens["second"]
	if len(tokens) != 2 || interop.ID == second.ID {
		t.Fatalf("tokens %+v: want interop and second, with ids of their own", tokens)
	}
	if interop.Serial != "0000000000000000" || second.Serial != interop.Serial {
		t.Errorf("serials %q, %q: tpm2-pkcs11 gives every token 0000000000000000", interop.Serial, second.Serial)
	}
	if interop.Model != "SW   TPM" || interop.Manufacturer != "IBM" {
		t.Errorf("model %q, manufacturer %q: want the padding gone", interop.Model, interop.Manufacturer)
	}
	if !interop.PIN.LoginRequired || interop.ReadOnly {
		t.Errorf("interop: %+v", interop)
	}

	// A key made on one token is on that one only.
	ctx := context.Background()
	var key token.PrivateKey
	err := m.Login(ctx, interop.ID, token.Credentials{PIN: []byte(userPIN), Generates: token.ECP256}, func(s *token.Session) error {
		var err error
		key, err = s.GenerateKeyPair(token.KeySpec{Algorithm: token.ECP256}, "made on interop")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	keysOn := func(id string) []token.PrivateKey {
		t.Helper()
		var keys []token.PrivateKey
		if err := m.Login(ctx, id, token.Credentials{PIN: []byte(userPIN)}, func(s *token.Session) error {
			var err error
			keys, err = s.PrivateKeys()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return keys
	}
	if got := keysOn(interop.ID); len(got) != 1 || got[0].ID != key.ID {
		t.Errorf("interop's keys = %+v, want the one made there", got)
	}
	if got := keysOn(second.ID); len(got) != 0 {
		t.Errorf("second's keys = %+v, want none", got)
	}

	// The ids stay across a restart of the agent.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	again := tokensByLabel(t, newManager(t, p.Module))
	if again["interop"].ID != interop.ID || again["second"].ID != second.ID {
		t.Errorf("ids after a restart: %s, %s; want %s, %s", again["interop"].ID, again["second"].ID, interop.ID, second.ID)
	}
}

// TestTPMCapabilities checks what tpm2-pkcs11 says of itself decides
// before any login: RSA up to 3072 bits, no RSA-PSS; and that its C_SetPIN,
// which answers CKR_OK to a wrong old PIN, cannot make a change look made.
func TestTPMCapabilities(t *testing.T) {
	p := tpmFixture(t)
	ctl := p11shim.Use(t, p.Module)
	m := newManager(t, p11shim.Path(t))
	interop := tokensByLabel(t, m)["interop"].ID
	ctx := context.Background()
	noop := func(*token.Session) error { return nil }
	for alg, ok := range map[token.KeyAlgorithm]bool{token.RSA4096: false, token.RSA3072: true, token.ECP384: true} {
		ctl.ClearCalls(t)
		err := m.Login(ctx, interop, token.Credentials{PIN: []byte(userPIN), Generates: alg}, noop)
		if ok != (err == nil) || (!ok && !errors.Is(err, token.ErrMechanismUnsupported)) {
			t.Errorf("%s: %v, want supported %v", alg, err, ok)
		}
		if !ok && ctl.Called(t, "C_Login") != 0 {
			t.Errorf("%s: logged in to refuse it", alg)
		}
	}
	err := m.Login(ctx, interop, token.Credentials{PIN: []byte(userPIN)}, func(s *token.Session) error {
		k, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.RSA2048}, "rsa")
		if err != nil {
			return err
		}
		digest := sha256.Sum256([]byte("pss"))
		ctl.ClearCalls(t)
		if _, err := s.Sign(k, token.Mechanism{Scheme: token.RSAPSS, Hash: crypto.SHA256}, digest[:]); !errors.Is(err, token.ErrMechanismUnsupported) {
			t.Errorf("RSA-PSS: %v, want ErrMechanismUnsupported", err)
		}
		if ctl.Called(t, "C_SignInit") != 0 {
			t.Error("RSA-PSS was tried")
		}
		sig, err := s.Sign(k, token.Mechanism{Scheme: token.RSAPKCS1v15, Hash: crypto.SHA256}, digest[:])
		if err == nil {
			verify(t, k.Public, digest[:], sig)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	var pe *token.PINError
	if err := m.ChangePIN(ctx, interop, []byte("999999"), []byte("111111"), false); !errors.As(err, &pe) || pe.Problem != token.PINIncorrect {
		t.Errorf("pin change with a wrong old PIN: %v, want PINIncorrect", err)
	}
	if err := m.Login(ctx, interop, token.Credentials{PIN: []byte(userPIN)}, noop); err != nil {
		t.Errorf("the PIN after the refused change: %v", err)
	}
	if err := m.ChangePIN(ctx, interop, []byte(userPIN), []byte("111111"), false); err != nil {
		t.Fatalf("pin change: %v", err)
	}
	if err := m.Login(ctx, interop, token.Credentials{PIN: []byte("111111")}, noop); err != nil {
		t.Errorf("the new PIN: %v", err)
	}
}

// TestTPMRestarted restarts the software TPM under the module. A restart
// between two calls goes unnoticed; but once a call has met the TPM down,
// tpm2-pkcs11 answers every later login CKR_GENERAL_ERROR, even with the
// TPM back, until it is initialised again: the agent does that, and serves
// on without a restart.
func TestTPMRestarted(t *testing.T) {
	p := tpmFixture(t)
	m := newManager(t, p.Module)
	interop := tokensByLabel(t, m)["interop"].ID
	ctx := context.Background()
	sign := func() error {
		return m.Login(ctx, interop, token.Credentials{PIN: []byte(userPIN), Generates: token.ECP256}, func(s *token.Session) error {
			k, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.ECP256}, "k")
			if err != nil {
				return err
			}
			digest := sha256.Sum256([]byte("after"))
			sig, err := s.Sign(k, token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA256}, digest[:])
			if err == nil {
				verify(t, k.Public, digest[:], sig)
			}
			return err
		})
	}
	if err := sign(); err != nil {
		t.Fatal(err)
	}
	p.Restart()
	if err := sign(); err != nil {
		t.Fatalf("after a restart between calls: %v", err)
	}

	p.Stop()
	var de *token.DeviceError
	if err := sign(); !errors.As(err, &de) {
		t.Fatalf("with the TPM down: %v, want a DeviceError", err)
	}
	// The call's end tried to initialise the module again, which fails
	// while the TPM is down: it lists no tokens and says why.
	if st := m.Modules(); st[0].State != token.ModuleFailed || st[0].Err == nil {
		t.Errorf("module with the TPM down: %+v, want failed", st)
	}
	if got := tokensByLabel(t, m); len(got) != 0 {
		t.Errorf("tokens with the TPM down: %v", got)
	}
	p.Start()
	if err := sign(); err != nil {
		t.Errorf("with the TPM back: %v", err)
	}
	if st := m.Modules(); st[0].State != token.ModuleReady {
		t.Errorf("module with the TPM back: %+v, want ready", st)
	}
	if got := tokensByLabel(t, m); !slices.Equal(labelsOf(got), []string{"interop", "second"}) {
		t.Errorf("tokens back: %v", got)
	}
}

func labelsOf(tokens map[string]token.TokenInfo) []string {
	var out []string
	for l := range tokens {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}
