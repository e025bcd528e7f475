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
		return fmt.Sprintf("%s PIN breaks the token's rules (length %d to %d)", who, e.State.MinLen, e.State.MaxLen)
	}
	return fmt.Sprintf("%s PIN %s", who, e.Problem)
}

// Credentials are how one call logs in, and what it is about to do: a
// token that cannot do it refuses before any login. They live as long as
// the call.
type Credentials struct {
	SO bool // log in as security officer
	// PIN is never logged and never kept: the module reads it where it
	// is (pinCalls), and the caller clears it once the call is over.
	PIN             []byte
	ConfirmFinalTry bool // go ahead even when the token reports one try left
	// Writes says the call changes the token: a write-protected one
	// refuses it (ErrReadOnly).
	Writes bool
	// Generates names the key pair the call makes, if it makes one: a
	// token whose mechanisms do not make it refuses it
	// (ErrMechanismUnsupported).
	Generates KeyAlgorithm
}

// refusal decides from the token's flags, without touching the token,
// whether a login with cred must not be tried.
func refusal(st PINState, cred Credentials) error {
	locked, finalTry := st.Locked, st.FinalTry
	if cred.SO {
		locked, finalTry = st.SOLocked, st.SOFinalTry
	}
	switch {
	case locked:
		return &PINError{Problem: PINLocked, SO: cred.SO, State: st}
	case finalTry && !cred.ConfirmFinalTry:
		return &PINError{Problem: PINFinalTry, SO: cred.SO, State: st}
	}
	return checkPIN(st, cred.PIN, cred.SO)
}

// checkPIN refuses a PIN the token could only reject, so that a typo never
// costs a try: an empty one (that means "use the PIN pad"), and a user PIN
// outside the token's length rules. The SO PIN is held to being non-empty
// only: the length rules a token gives are its user PIN's, and an SO PIN
// (a PUK) may have others. A token with a PIN pad takes no PIN from the
// caller, so there is nothing to check.
func checkPIN(st PINState, pin []byte, so bool) error {
	if st.ProtectedAuthPath {
		return nil
	}
	if len(pin) == 0 || (!so && ((st.MinLen > 0 && len(pin) < st.MinLen) || (st.MaxLen > 0 && len(pin) > st.MaxLen))) {
		return &PINError{Problem: PINInvalid, SO: so, State: st}
	}
	return nil
}

// pinFailure turns a failed PIN operation's error into a *PINError carrying
// the flags read after the failure, or maps it like any other error.
func (t *heldToken) pinFailure(fn string, so bool, err error) error {
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
	st := t.info.PIN
	if ti, err := t.p11.GetTokenInfo(t.info.Slot); err == nil {
		st = pinState(ti.Flags, ti.MinPinLen, ti.MaxPinLen)
	}
	return &PINError{Problem: problem, SO: so, State: st}
}

// admit refuses, from the token's info and without touching the token, a
// call the token cannot serve: a write to a write-protected token, a key
// pair it does not make, and when the call logs in, a login with cred
// that must not be tried.
func (t *heldToken) admit(cred Credentials, logsIn bool) error {
	if (cred.Writes || cred.Generates != "") && t.info.ReadOnly {
		return fmt.Errorf("token %s: %w", t.info.ID, ErrReadOnly)
	}
	if cred.Generates != "" {
		if err := t.canGenerate(cred.Generates); err != nil {
			return err
		}
	}
	if logsIn {
		return refusal(t.info.PIN, cred)
	}
	return nil
}

// logsIn tells whether a call with cred logs in: as SO always, as the user
// unless the token needs no login (CKF_LOGIN_REQUIRED clear), whose
// functions are all open without one.
func (t *heldToken) logsIn(cred Credentials) bool {
	return cred.SO || t.info.PIN.LoginRequired
}

// Admit refuses, as Login would before any login, a call with cred that
// token id cannot serve: a write to a write-protected token, a key pair it
// does not make. The PIN is not looked at: Admit is for calls whose PIN
// is not known yet (the person types it on the consent page).
func (m *Manager) Admit(ctx context.Context, id string, cred Credentials) error {
	return m.withToken(ctx, id, func(t *heldToken) error { return t.admit(cred, false) })
}

// Login runs fn in a session on token id logged in with cred, and logs out,
// all under the token's lock. What the token's info says it cannot do is
// refused before any login (see Credentials, refusal and checkPIN), and a
// token that needs no login is used without one.
func (m *Manager) Login(ctx context.Context, id string, cred Credentials, fn func(s *Session) error) error {
	return m.withToken(ctx, id, func(t *heldToken) error {
		logsIn := t.logsIn(cred)
		if err := t.admit(cred, logsIn); err != nil {
			return err
		}
		return t.withSession(cred, func(s *Session) error {
			if !logsIn {
				return fn(s)
			}
			return s.login(cred, func() error { return fn(s) })
		})
	})
}

// login logs in with cred, runs fn, and logs out.
func (s *Session) login(cred Credentials, fn func() error) error {
	userType := uint(pkcs11.CKU_USER)
	if cred.SO {
		userType = pkcs11.CKU_SO
	}
	err := s.loginFor(userType, cred)
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		// Login state belongs to the whole process. Every call logs out
		// before it lets go of the token, but a logout can fail (a token
		// pulled and put back), so log out and try once more.
		_ = s.p11.Logout(s.sh)
		err = s.loginFor(userType, cred)
	}
	if err != nil {
		return err
	}
	defer s.p11.Logout(s.sh) //nolint:errcheck // closing the session logs out too
	return fn()
}

// loginFor makes one C_Login as userType with cred's PIN, or with none on a
// token with a PIN pad, where the person types it.
func (s *Session) loginFor(userType uint, cred Credentials) error {
	pin := cred.PIN
	if s.info.PIN.ProtectedAuthPath {
		pin = nil // NULL: typed on the pad
	}
	if err := s.pinLogin(userType, pin); err != nil {
		return s.pinFailure("C_Login", cred.SO, err)
	}
	return nil
}

// checkNewPIN refuses a new PIN the token's length rules forbid, before
// the token is asked.
func checkNewPIN(st PINState, pin []byte) error {
	if st.ProtectedAuthPath {
		return nil
	}
	return checkPIN(st, pin, false)
}

// ChangePIN changes the user PIN of token id from oldPIN to newPIN. The old
// PIN is confirmed by logging in with it first, so a wrong one counts as
// one failed try, and a module whose C_SetPIN answers CKR_OK to a wrong old
// PIN without changing anything (tpm2-pkcs11 does) cannot make it look
// changed.
func (m *Manager) ChangePIN(ctx context.Context, id string, oldPIN, newPIN []byte, confirmFinalTry bool) error {
	cred := Credentials{PIN: oldPIN, ConfirmFinalTry: confirmFinalTry, Writes: true}
	return m.withToken(ctx, id, func(t *heldToken) error {
		if err := t.admit(cred, true); err != nil {
			return err
		}
		if err := checkNewPIN(t.info.PIN, newPIN); err != nil {
			return err
		}
		return t.withSession(cred, func(s *Session) error {
			return s.login(cred, func() error {
				if s.info.PIN.ProtectedAuthPath {
					oldPIN, newPIN = nil, nil // both typed on the pad
				}
				if err := s.pinSet(oldPIN, newPIN); err != nil {
					return s.pinFailure("C_SetPIN", false, err)
				}
				return nil
			})
		})
	})
}

// UnlockPIN logs in to token id as security officer with soPIN and sets a
// new user PIN, which also unblocks a locked one.
func (m *Manager) UnlockPIN(ctx context.Context, id string, soPIN, newPIN []byte, confirmFinalTry bool) error {
	cred := Credentials{SO: true, PIN: soPIN, ConfirmFinalTry: confirmFinalTry, Writes: true}
	return m.withToken(ctx, id, func(t *heldToken) error {
		if err := t.admit(cred, true); err != nil {
			return err
		}
		if err := checkNewPIN(t.info.PIN, newPIN); err != nil {
			return err
		}
		return t.withSession(cred, func(s *Session) error {
			return s.login(cred, func() error {
				if s.info.PIN.ProtectedAuthPath {
					newPIN = nil // typed on the pad
				}
				if err := s.pinInit(newPIN); err != nil {
					return s.pinFailure("C_InitPIN", false, err)
				}
				return nil
			})
		})
	})
}
