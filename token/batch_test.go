package token_test

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tokenagent/tokenagent/token"
)

// aliceAuthKey returns the fixture's EC-P256 certificate "alice-auth" and
// its private key.
func aliceAuthKey(s *token.Session) (token.Certificate, token.PrivateKey, error) {
	cert, err := s.Certificate("02")
	if err != nil {
		return token.Certificate{}, token.PrivateKey{}, err
	}
	key, err := s.KeyForCertificate(cert)
	return cert, key, err
}

func TestBatch(t *testing.T) {
	several := runtime.GOMAXPROCS(0) > 1
	tests := []struct {
		name     string
		control  []string
		n        int
		software bool
		copied   bool // signed with a session copy of the key
		parallel bool // spread over several sessions (with several CPUs)
	}{
		{"software token, many items", nil, 40, true, true, true},
		{"software token, one item", nil, 1, true, false, false},
		{"software token refusing the copy", []string{"fail = C_CopyObject 0x1B"}, 40, true, false, true}, // CKR_ACTION_PROHIBITED
		{"software token refusing extra sessions", []string{"fail = C_OpenSession CKR_SESSION_COUNT after=1"}, 40, true, true, false},
		{"card in a reader", []string{"slot_flags_set = CKF_HW_SLOT | CKF_REMOVABLE_DEVICE"}, 40, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctl, m := shimmed(t)
			ctl.Set(t, tt.control...)
			if got := tokensByLabel(t, m)["alice"].Software; got != tt.software {
				t.Fatalf("Software = %v, want %v", got, tt.software)
			}
			var (
				mu       sync.Mutex
				sessions = map[*token.Session]bool{}
				sigs     = make([][]byte, tt.n)
				cert     token.Certificate
			)
			digest := func(i int) []byte {
				d := sha256.Sum256(fmt.Appendf(nil, "item %d", i))
				return d[:]
			}
			err := loginTo(t, m, "alice", func(s *token.Session) error {
				var key token.PrivateKey
				var err error
				if cert, key, err = aliceAuthKey(s); err != nil {
					return err
				}
				ctl.ClearCalls(t)
				return s.Batch(key, tt.n, func(w *token.Session, k token.PrivateKey, i int) error {
					mu.Lock()
					sessions[w] = true
					mu.Unlock()
					sig, err := w.Sign(k, token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA256}, digest(i))
					sigs[i] = sig
					return err
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, sig := range sigs {
				verify(t, cert.Cert.PublicKey, digest(i), sig)
			}
			if got, want := ctl.Called(t, "C_DestroyObject"), map[bool]int{true: 1}[tt.copied]; got != want {
				t.Errorf("%d session copies destroyed, want %d", got, want)
			}
			if tt.parallel && several && len(sessions) < 2 {
				t.Errorf("items signed in %d session, want several", len(sessions))
			}
			if !(tt.parallel && several) && len(sessions) != 1 {
				t.Errorf("items signed in %d sessions, want 1", len(sessions))
			}
			// The sessions opened are closed; where none could be opened, the
			// attempt is all there is.
			opened, closed := ctl.Called(t, "C_OpenSession"), ctl.Called(t, "C_CloseSession")
			if (tt.parallel && closed != opened) || (!tt.parallel && closed != 0) {
				t.Errorf("batch opened %d sessions and closed %d", opened, closed)
			}
			// Nothing of the batch is left: the token and the kept session
			// show the same two private keys as before.
			err = loginTo(t, m, "alice", func(s *token.Session) error {
				keys, err := s.PrivateKeys()
				if err == nil && len(keys) != 2 {
					t.Errorf("%d private keys after the batch, want 2", len(keys))
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBatchReturnsTheFirstItemsError(t *testing.T) {
	f := newFixture(t)
	m := newManager(t, f.env.Module)
	const n = 200
	var started sync.Map
	err := loginTo(t, m, "alice", func(s *token.Session) error {
		_, key, err := aliceAuthKey(s)
		if err != nil {
			return err
		}
		return s.Batch(key, n, func(w *token.Session, k token.PrivateKey, i int) error {
			started.Store(i, true)
			if i == 5 || i == 7 {
				return fmt.Errorf("item %d", i)
			}
			d := sha256.Sum256([]byte{byte(i)})
			_, err := w.Sign(k, token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA256}, d[:])
			return err
		})
	})
	if err == nil || err.Error() != "item 5" {
		t.Fatalf("err = %v, want item 5's", err)
	}
	count := 0
	started.Range(func(any, any) bool { count++; return true })
	if count == n {
		t.Error("every item was started after item 5 failed")
	}
	var pe *token.PINError
	if errors.As(err, &pe) {
		t.Errorf("err = %v, a PIN error", err)
	}
}

func TestBatchRaisesAWorkersPanicInTheCaller(t *testing.T) {
	f := newFixture(t)
	m := newManager(t, f.env.Module)
	var recovered any
	err := loginTo(t, m, "alice", func(s *token.Session) error {
		_, key, err := aliceAuthKey(s)
		if err != nil {
			return err
		}
		defer func() { recovered = recover() }()
		return s.Batch(key, 50, func(w *token.Session, k token.PrivateKey, i int) error {
			if i == 3 {
				panic("item 3")
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if msg, _ := recovered.(string); !strings.HasPrefix(msg, "item 3\n") {
		t.Fatalf("recovered %q, want item 3's panic", recovered)
	}
	// The token serves on.
	if err := loginTo(t, m, "alice", func(*token.Session) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
