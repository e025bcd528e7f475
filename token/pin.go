package token

import (
	"context"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// PINProblem says what is wrong with a PIN.
type PINProblem int

// The PIN problems callers branch on.
const (
	PINIncorrect PINProblem = iota + 1 // the token rejected the PIN
	PINLocked                          // the PIN is blocked
	PINFinalTry                        // refused: one try left and not confirmed
	PINInvalid                         // a new PIN breaks the token's length rules
)

func (p PINProblem) String() string {
	switch p {
	case PINIncorrect:
		return "incorrect"
	case PINLocked:
		return "locked"
	case PINFinalTry:
		return "on its final try"
	case PINInvalid:
		return "invalid"
	}
	return fmt.Sprintf("PINProblem(%d)", int(p))
}

// PINError is a failed or refused PIN operation. It never holds the PIN.
type PINError struct {
	Problem PINProblem
	SO      bool     // the security officer's PIN (PUK) rather than the user's
	State   PINState // the token's PIN flags, read after a failed attempt
}

func (e *PINError) Error() string {
	who := "user"
	if e.SO {
		who = "SO"
	}
	if e.Problem == PINInvalid {
		return fmt.Sprintf("new %s PIN breaks the token's rules (length %d to %d)", who, e.State.MinLen, e.State.MaxLen)
	}
	return fmt.Sprintf("%s PIN %s", who, e.Problem)
}

// Credentials are how one call logs in. They live as long as the call.
type Credentials struct {
	SO              bool   // log in as security officer
	PIN             string // never logged, never kept
	ConfirmFinalTry bool   // go ahead even when the token reports one try left
}

// refusal decides from the token's flags, without touching the token,
// whether a login with cred must not be tried.
func refusal(st PINState, so, confirmFinalTry bool) error {
	locked, finalTry := st.Locked, st.FinalTry
	if so {
		locked, finalTry = st.SOLocked, st.SOFinalTry
	}
	switch {
	case locked:
		return &PINError{Problem: PINLocked, SO: so, State: st}
	case finalTry && !confirmFinalTry:
		return &PINError{Problem: PINFinalTry, SO: so, State: st}
	}
	return nil
}

// pinFailure turns a failed PIN operation's error into a *PINError carrying
// the flags read after the failure, or maps it like any other error.
func (h *handle) pinFailure(fn string, so bool, err error) error {
	var code pkcs11.Error
	if !errors.As(err, &code) {
		return mapError(fn, err)
	}
	var problem PINProblem
	switch code {
	case pkcs11.CKR_PIN_INCORRECT:
		problem = PINIncorrect
	case pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_PIN_EXPIRED:
		problem = PINLocked
	case pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_INVALID:
		problem = PINInvalid
	default:
		return mapError(fn, err)
	}
	st := h.info.PIN
	if ti, err := h.c.GetTokenInfo(h.info.Slot); err == nil {
		st = pinState(ti.Flags, ti.MinPinLen, ti.MaxPinLen)
	}
	return &PINError{Problem: problem, SO: so, State: st}
}

// checkNewPIN refuses a new PIN the token's length rules forbid, before
// the token is asked.
func checkNewPIN(st PINState, pin string) error {
	if (st.MinLen > 0 && len(pin) < st.MinLen) || (st.MaxLen > 0 && len(pin) > st.MaxLen) {
		return &PINError{Problem: PINInvalid, State: st}
	}
	return nil
}

// Session is a logged-in session on one token. It is valid only inside the
// callback it was passed to.
type Session struct {
	s *session
}

// Info is the token's info as read when the session began.
func (s *Session) Info() TokenInfo { return s.s.info }

// Login logs in to token id with cred, runs fn, and logs out, all under the
// token's lock. A locked PIN, or a final try that cred does not confirm, is
// refused from the token's flags without a login attempt.
func (m *Manager) Login(ctx context.Context, id string, cred Credentials, fn func(s *Session) error) error {
	return m.withToken(ctx, id, func(h *handle) error {
		if err := refusal(h.info.PIN, cred.SO, cred.ConfirmFinalTry); err != nil {
			return err
		}
		return h.withSession(func(s *session) error {
			return s.login(cred, func() error { return fn(&Session{s: s}) })
		})
	})
}

func (s *session) login(cred Credentials, fn func() error) error {
	userType := uint(pkcs11.CKU_USER)
	if cred.SO {
		userType = pkcs11.CKU_SO
	}
	err := s.c.Login(s.sh, userType, cred.PIN)
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		// Login state belongs to the whole process. Every call logs out
		// before it lets go of the token, but a logout can fail (a token
		// pulled and put back), so log out and try once more.
		_ = s.c.Logout(s.sh)
		err = s.c.Login(s.sh, userType, cred.PIN)
	}
	if err != nil {
		return s.pinFailure("C_Login", cred.SO, err)
	}
	defer s.c.Logout(s.sh) //nolint:errcheck // closing the session logs out too
	return fn()
}

// ChangePIN changes the user PIN of token id from oldPIN to newPIN.
func (m *Manager) ChangePIN(ctx context.Context, id, oldPIN, newPIN string, confirmFinalTry bool) error {
	return m.withToken(ctx, id, func(h *handle) error {
		if err := refusal(h.info.PIN, false, confirmFinalTry); err != nil {
			return err
		}
		if err := checkNewPIN(h.info.PIN, newPIN); err != nil {
			return err
		}
		return h.withSession(func(s *session) error {
			// C_SetPIN in a public read-write session checks the old PIN
			// itself, so a wrong one counts as one failed try, no more.
			if err := s.c.SetPIN(s.sh, oldPIN, newPIN); err != nil {
				return s.pinFailure("C_SetPIN", false, err)
			}
			return nil
		})
	})
}

// UnlockPIN logs in to token id as security officer with soPIN and sets a
// new user PIN, which also unblocks a locked one.
func (m *Manager) UnlockPIN(ctx context.Context, id, soPIN, newPIN string, confirmFinalTry bool) error {
	cred := Credentials{SO: true, PIN: soPIN, ConfirmFinalTry: confirmFinalTry}
	return m.withToken(ctx, id, func(h *handle) error {
		if err := refusal(h.info.PIN, true, confirmFinalTry); err != nil {
			return err
		}
		if err := checkNewPIN(h.info.PIN, newPIN); err != nil {
			return err
		}
		return h.withSession(func(s *session) error {
			return s.login(cred, func() error {
				if err := s.c.InitPIN(s.sh, newPIN); err != nil {
					return s.pinFailure("C_InitPIN", false, err)
				}
				return nil
			})
		})
	})
}
