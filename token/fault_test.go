package token_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/p11shim"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
)

// shimmed opens the fixture's tokens through the fault-injecting shim.
func shimmed(t *testing.T) (*p11shim.Control, *token.Manager) {
	t.Helper()
	f := newFixture(t)
	ctl := p11shim.Use(t, f.env.Module)
	return ctl, newManager(t, p11shim.Path(t))
}

func TestRefusalsDoNotTouchTheToken(t *testing.T) {
	tests := []struct {
		name    string
		flags   string
		so      bool
		confirm bool
		want    token.PINProblem
	}{
		{"user PIN locked", "CKF_USER_PIN_LOCKED", false, false, token.PINLocked},
		{"user PIN locked, final try confirmed", "CKF_USER_PIN_LOCKED", false, true, token.PINLocked},
		{"user PIN final try", "CKF_USER_PIN_FINAL_TRY|CKF_USER_PIN_COUNT_LOW", false, false, token.PINFinalTry},
		{"SO PIN locked", "CKF_SO_PIN_LOCKED", true, false, token.PINLocked},
		{"SO PIN final try", "CKF_SO_PIN_FINAL_TRY", true, false, token.PINFinalTry},
	}
	ctl, m := shimmed(t)
	id := tokensByLabel(t, m)["alice"].ID
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctl.Set(t, "token_flags_set = "+tt.flags)
			ctl.ClearCalls(t)
			var err error
			if tt.so {
				err = m.UnlockPIN(ctx, id, []byte(soPIN), []byte("4321"), tt.confirm)
			} else {
				err = m.Login(ctx, id, token.Credentials{PIN: []byte(userPIN), ConfirmFinalTry: tt.confirm}, func(*token.Session) error { return nil })
			}
			var pe *token.PINError
			if !errors.As(err, &pe) || pe.Problem != tt.want || pe.SO != tt.so {
				t.Fatalf("err = %v, want %v (SO %v)", err, tt.want, tt.so)
			}
			for _, fn := range []string{"C_Login", "C_OpenSession", "C_SetPIN", "C_InitPIN"} {
				if n := ctl.Called(t, fn); n != 0 {
					t.Errorf("%s called %d times for a refused call", fn, n)
				}
			}
		})
	}
	t.Run("final try confirmed goes ahead", func(t *testing.T) {
		ctl.Set(t, "token_flags_set = CKF_USER_PIN_FINAL_TRY")
		ctl.ClearCalls(t)
		err := m.Login(ctx, id, token.Credentials{PIN: []byte(userPIN), ConfirmFinalTry: true}, func(*token.Session) error { return nil })
		if err != nil || ctl.Called(t, "C_Login") != 1 {
			t.Errorf("err = %v, C_Login called %d times; want one login", err, ctl.Called(t, "C_Login"))
		}
	})
}

func TestPINErrorsFromTheToken(t *testing.T) {
	ctl, m := shimmed(t)
	id := tokensByLabel(t, m)["alice"].ID
	ctx := context.Background()
	noop := func(*token.Session) error { return nil }
	tests := []struct {
		control string
		run     func() error
		want    token.PINProblem
		so      bool
	}{
		{"fail = C_Login:USER CKR_PIN_LOCKED", func() error { return m.Login(ctx, id, token.Credentials{PIN: []byte(userPIN)}, noop) }, token.PINLocked, false},
		{"fail = C_Login:SO CKR_PIN_LOCKED", func() error { return m.UnlockPIN(ctx, id, []byte(soPIN), []byte("4321"), false) }, token.PINLocked, true},
		{"fail = C_Login:SO CKR_PIN_INCORRECT", func() error { return m.UnlockPIN(ctx, id, []byte(soPIN), []byte("4321"), false) }, token.PINIncorrect, true},
		{"fail = C_SetPIN CKR_PIN_LEN_RANGE", func() error { return m.ChangePIN(ctx, id, []byte(userPIN), []byte("4321"), false) }, token.PINInvalid, false},
	}
	for _, tt := range tests {
		ctl.Set(t, tt.control)
		err := tt.run()
		var pe *token.PINError
		if !errors.As(err, &pe) || pe.Problem != tt.want || pe.SO != tt.so {
			t.Errorf("%s: err = %v, want %v (SO %v)", tt.control, err, tt.want, tt.so)
		}
	}
	// The flags in the error are those read after the failure.
	ctl.Set(t, "fail = C_Login:USER CKR_PIN_INCORRECT", "token_flags_set = CKF_USER_PIN_FINAL_TRY")
	err := m.Login(ctx, id, token.Credentials{PIN: []byte(userPIN), ConfirmFinalTry: true}, noop)
	var pe *token.PINError
	if !errors.As(err, &pe) || !pe.State.FinalTry {
		t.Errorf("err = %#v, want PINIncorrect with the final-try flag", err)
	}
}

func TestDeviceFailuresMidCall(t *testing.T) {
	ctl, m := shimmed(t)
	ca, err := softhsm.NewCA("CA")
	if err != nil {
		t.Fatal(err)
	}
	tokens := tokensByLabel(t, m)
	alice, bob := tokens["alice"].ID, tokens["bob"].ID
	ctx := context.Background()
	digest := sha256.Sum256([]byte("x"))

	sign := func(id string) error {
		return m.Login(ctx, id, token.Credentials{PIN: []byte(userPIN)}, func(s *token.Session) error {
			k, err := s.PrivateKey("02") // alice's EC key
			if err != nil {
				return err
			}
			_, err = s.Sign(k, token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA256}, digest[:])
			return err
		})
	}
	ctl.Set(t, "slot_label = alice", "fail = C_Sign CKR_DEVICE_REMOVED")
	if err := sign(alice); !errors.Is(err, token.ErrTokenRemoved) {
		t.Errorf("sign with the token pulled: %v, want ErrTokenRemoved", err)
	}
	ctl.Set(t, "slot_label = alice", "fail = C_Sign CKR_DEVICE_ERROR")
	var de *token.DeviceError
	if err := sign(alice); !errors.As(err, &de) || token.CodeName(de.Code) != "CKR_DEVICE_ERROR" {
		t.Errorf("sign on a failing device: %v, want DeviceError CKR_DEVICE_ERROR", err)
	}

	// An import cut off by a pulled token leaves no certificate behind.
	ctl.Set(t)
	var pub crypto.PublicKey
	err = m.Login(ctx, bob, token.Credentials{PIN: []byte(userPIN)}, func(s *token.Session) error {
		k, err := s.GenerateKeyPair(token.KeySpec{Algorithm: token.ECP256}, "bob")
		pub = k.Public
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(pub, pkix.Name{CommonName: "Bob"}, time.Now(), time.Now().AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctl.Set(t, "slot_label = bob", "fail = C_CreateObject CKR_DEVICE_REMOVED")
	err = m.Login(ctx, bob, token.Credentials{PIN: []byte(userPIN)}, func(s *token.Session) error {
		_, err := s.ImportCertificate(cert, "")
		return err
	})
	if !errors.Is(err, token.ErrTokenRemoved) {
		t.Errorf("import with the token pulled: %v, want ErrTokenRemoved", err)
	}
	ctl.Set(t)
	if certs, err := m.Certificates(ctx, bob); err != nil || len(certs) != 0 {
		t.Errorf("bob's certificates after the failed import = %v, %v; want none", certs, err)
	}

	// Other tokens, and the same one once back, keep working.
	ctl.Set(t, "slot_label = alice", "removed = 1")
	if _, err := m.Certificates(ctx, bob); err != nil {
		t.Errorf("bob while alice is pulled: %v", err)
	}
	if _, err := m.Certificates(ctx, alice); !errors.Is(err, token.ErrTokenNotFound) {
		t.Errorf("alice pulled: %v, want ErrTokenNotFound", err)
	}
	ctl.Set(t)
	if err := sign(alice); err != nil {
		t.Errorf("alice back: %v", err)
	}
}

func TestModuleFailingInitialize(t *testing.T) {
	f := newFixture(t)
	ctl := p11shim.Use(t, f.env.Module)
	ctl.Set(t, "fail = C_Initialize CKR_GENERAL_ERROR")
	m := newManager(t, p11shim.Path(t), f.env.Module)
	st := m.Modules()
	if len(st) != 2 || st[0].Err == nil || st[1].Err != nil {
		t.Fatalf("modules = %+v, want the shim failing and SoftHSM loaded", st)
	}
	var de *token.DeviceError
	if !errors.As(st[0].Err, &de) || token.CodeName(de.Code) != "CKR_GENERAL_ERROR" {
		t.Errorf("shim error = %v, want CKR_GENERAL_ERROR", st[0].Err)
	}
	if len(tokensByLabel(t, m)) != 2 {
		t.Error("the working module's tokens are missing")
	}
}

func TestModuleFailingReinitialise(t *testing.T) {
	ctl, m := shimmed(t)
	ctl.Set(t, "fail = C_Initialize CKR_GENERAL_ERROR")
	m.Refresh()
	var de *token.DeviceError
	if st := m.Modules(); len(st) != 1 || !errors.As(st[0].Err, &de) || token.CodeName(de.Code) != "CKR_GENERAL_ERROR" {
		t.Errorf("modules while C_Initialize fails = %+v, want the shim's CKR_GENERAL_ERROR", st)
	}
	if got := tokensByLabel(t, m); len(got) != 0 {
		t.Errorf("tokens of an uninitialised module: %v", got)
	}
	// The next Refresh tries again.
	ctl.Set(t)
	m.Refresh()
	if st := m.Modules(); len(st) != 1 || st[0].Err != nil {
		t.Errorf("modules once C_Initialize works = %+v, want no error", st)
	}
	if got := tokensByLabel(t, m); len(got) != 2 {
		t.Errorf("tokens once re-initialised: %v, want alice and bob", got)
	}
}

// waitFor polls the shim's call log until ok holds.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestModuleRecovers makes a module's calls fail as if its back end went
// away (the TPM under tpm2-pkcs11 restarted, say): it is re-initialised as
// soon as no call is in flight, says it is recovering meanwhile, and
// serves on without a restart.
func TestModuleRecovers(t *testing.T) {
	ctl, m := shimmed(t)
	tokens := tokensByLabel(t, m)
	alice, bob := tokens["alice"].ID, tokens["bob"].ID
	ctx := context.Background()
	noop := func(*token.Session) error { return nil }
	state := func() (token.ModuleState, error) {
		st := m.Modules()
		return st[0].State, st[0].Err
	}

	// Nothing else in flight: re-initialised as the failed call ends.
	ctl.Set(t, "fail = C_Login CKR_GENERAL_ERROR times=1")
	ctl.ClearCalls(t)
	var de *token.DeviceError
	if err := m.Login(ctx, alice, token.Credentials{PIN: []byte(userPIN)}, noop); !errors.As(err, &de) || token.CodeName(de.Code) != "CKR_GENERAL_ERROR" {
		t.Fatalf("login: %v, want CKR_GENERAL_ERROR", err)
	}
	if ctl.Called(t, "C_Finalize") != 1 || ctl.Called(t, "C_Initialize") != 1 {
		t.Errorf("calls %v: want one C_Finalize and one C_Initialize", ctl.Calls(t))
	}
	if st, err := state(); st != token.ModuleReady || err != nil {
		t.Errorf("after recovering: %s %v, want ready", st, err)
	}
	if err := m.Login(ctx, alice, token.Credentials{PIN: []byte(userPIN)}, noop); err != nil {
		t.Fatalf("after recovering: %v", err)
	}

	// Another call in flight: recovering until it ends and a Refresh runs.
	ctl.Set(t, "fail = C_Login CKR_DEVICE_ERROR times=1", "delay = C_FindObjectsInit 3000 times=1")
	ctl.ClearCalls(t)
	slow := make(chan error, 1)
	go func() { _, err := m.Certificates(ctx, bob); slow <- err }()
	waitFor(t, "bob's certificates searched", func() bool { return ctl.Called(t, "C_FindObjectsInit") > 0 })
	if err := m.Login(ctx, alice, token.Credentials{PIN: []byte(userPIN)}, noop); !errors.As(err, &de) {
		t.Fatalf("login: %v, want a DeviceError", err)
	}
	if st, err := state(); st != token.ModuleRecovering || !errors.As(err, &de) || token.CodeName(de.Code) != "CKR_DEVICE_ERROR" {
		t.Errorf("while bob's call runs: %s %v, want recovering with CKR_DEVICE_ERROR", st, err)
	}
	if ctl.Called(t, "C_Finalize") != 0 {
		t.Error("re-initialised under a call in flight")
	}
	select {
	case <-slow:
		t.Fatal("bob's call ended before alice's was done: the checks above saw no call in flight")
	default:
	}
	if err := <-slow; err != nil {
		t.Fatalf("bob's certificates: %v", err)
	}
	m.Refresh()
	if st, err := state(); st != token.ModuleReady || err != nil {
		t.Errorf("after Refresh: %s %v, want ready", st, err)
	}

	// The back end still away: the re-initialisation fails, the module
	// lists nothing and says why, until it comes back.
	ctl.Set(t, "fail = C_Login CKR_GENERAL_ERROR times=1", "fail = C_Initialize CKR_GENERAL_ERROR")
	if err := m.Login(ctx, alice, token.Credentials{PIN: []byte(userPIN)}, noop); !errors.As(err, &de) {
		t.Fatalf("login: %v, want a DeviceError", err)
	}
	if st, err := state(); st != token.ModuleFailed || err == nil {
		t.Errorf("re-initialisation failing: %s %v, want failed with the error", st, err)
	}
	if got := tokensByLabel(t, m); len(got) != 0 {
		t.Errorf("tokens while the module is down: %v", got)
	}
	ctl.Set(t)
	m.Refresh()
	if st, err := state(); st != token.ModuleReady || err != nil {
		t.Errorf("back: %s %v, want ready", st, err)
	}
	if err := m.Login(ctx, alice, token.Credentials{PIN: []byte(userPIN)}, noop); err != nil {
		t.Errorf("back: %v", err)
	}
}
