package token

import (
	"errors"

	"github.com/miekg/pkcs11"
)

// Session is a session on one held token, logged in when the call needs
// it. It is valid only inside the callback it was passed to.
type Session struct {
	*heldToken
	sh pkcs11.SessionHandle
	// cred is the call's, kept for the logins each use of a key that
	// requires one asks for (CKA_ALWAYS_AUTHENTICATE); zero in a session
	// that did not log in.
	cred Credentials
}

// Info is the token's info as read when the call began.
func (s *Session) Info() TokenInfo { return s.info }

// withSession runs fn in the token's session. A token keeps one session
// open from call to call, read-write unless the token is write-protected:
// opening sessions and finding objects again is what makes calls slow, and
// SoftHSM forgets object handles when a token's last session closes. The
// token lock serialises its use, and every call logs out before it returns,
// so no login passes from one call to the next. A call that fails may leave
// the session in any state (an operation still active, say), so the session
// is closed then and the next call opens a fresh one.
func (t *heldToken) withSession(cred Credentials, fn func(s *Session) error) error {
	sh, err := t.session()
	if err != nil {
		return err
	}
	if err := fn(&Session{heldToken: t, sh: sh, cred: cred}); err != nil {
		t.dropSession()
		return err
	}
	return nil
}

// session returns the token's open session, opening one if there is none
// or the one kept is no longer open on the token's slot.
func (t *heldToken) session() (pkcs11.SessionHandle, error) {
	st := t.state
	if st.hasSession {
		if si, err := t.p11.GetSessionInfo(st.session); err == nil && si.SlotID == t.info.Slot {
			return st.session, nil
		}
		t.dropSession()
	}
	flags := uint(pkcs11.CKF_SERIAL_SESSION)
	if !t.info.ReadOnly {
		flags |= pkcs11.CKF_RW_SESSION
	}
	sh, err := t.p11.OpenSession(t.info.Slot, flags)
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_TOKEN_WRITE_PROTECTED)) {
		sh, err = t.p11.OpenSession(t.info.Slot, pkcs11.CKF_SERIAL_SESSION)
	}
	if err != nil {
		return 0, mapError("C_OpenSession", err)
	}
	st.session, st.hasSession = sh, true
	return sh, nil
}

// dropSession closes the token's session and forgets it.
func (t *heldToken) dropSession() {
	if t.state.hasSession {
		t.state.hasSession = false
		_ = t.p11.CloseSession(t.state.session) // it may be gone with its token already
	}
}

// find returns the handles of every object matching template.
func (s *Session) find(template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := s.p11.FindObjectsInit(s.sh, template); err != nil {
		return nil, mapError("C_FindObjectsInit", err)
	}
	var all []pkcs11.ObjectHandle
	for {
		// Only an empty answer ends a search: a module may return fewer
		// handles than asked for while more remain.
		batch, _, err := s.p11.FindObjects(s.sh, 64)
		if err != nil {
			_ = s.p11.FindObjectsFinal(s.sh)
			return nil, mapError("C_FindObjects", err)
		}
		if len(batch) == 0 {
			break
		}
		all = append(all, batch...)
	}
	if err := s.p11.FindObjectsFinal(s.sh); err != nil {
		return nil, mapError("C_FindObjectsFinal", err)
	}
	return all, nil
}

// attribute reads one attribute. Attributes are read one at a time because
// C_GetAttributeValue fails whole when any one of several is unreadable.
func (s *Session) attribute(o pkcs11.ObjectHandle, typ uint) ([]byte, error) {
	attrs, err := s.p11.GetAttributeValue(s.sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil {
		return nil, mapError("C_GetAttributeValue", err)
	}
	return attrs[0].Value, nil
}

// optionalAttribute is attribute for attributes an object may lack or hide:
// those read as empty.
func (s *Session) optionalAttribute(o pkcs11.ObjectHandle, typ uint) ([]byte, error) {
	v, err := s.attribute(o, typ)
	if absent(err) {
		return nil, nil
	}
	return v, err
}

// absent tells whether err says an attribute is not there to be read.
func absent(err error) bool {
	var code pkcs11.Error
	return errors.As(err, &code) && (code == pkcs11.CKR_ATTRIBUTE_TYPE_INVALID || code == pkcs11.CKR_ATTRIBUTE_SENSITIVE)
}

// attributes reads the attributes types of object o in one call, and one at
// a time (as optionalAttribute) when the module refuses that, as it does
// when any of them is absent. Each call to a token costs (SoftHSM: tens of
// microseconds; a card: a round trip), hence the one call first.
func (s *Session) attributes(o pkcs11.ObjectHandle, types ...uint) ([][]byte, error) {
	template := make([]*pkcs11.Attribute, len(types))
	for i, typ := range types {
		template[i] = pkcs11.NewAttribute(typ, nil)
	}
	values := make([][]byte, len(types))
	if attrs, err := s.p11.GetAttributeValue(s.sh, o, template); err == nil {
		for i, a := range attrs {
			values[i] = a.Value
		}
		return values, nil
	}
	for i, typ := range types {
		v, err := s.optionalAttribute(o, typ)
		if err != nil {
			return nil, err
		}
		values[i] = v
	}
	return values, nil
}

// sameValue tells whether attribute typ of object o still holds want. With
// the direct calls it reads into a buffer of want's size, one call where
// miekg/pkcs11 makes two; a longer value does not fit, and so differs.
func (s *Session) sameValue(o pkcs11.ObjectHandle, typ uint, want []byte) bool {
	var got []byte
	var err error
	if s.mod.direct.available() {
		got, err = s.mod.direct.attribute(s.sh, o, typ, len(want))
	} else {
		got, err = s.attribute(o, typ)
	}
	return err == nil && string(got) == string(want)
}
