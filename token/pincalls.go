package token

import "unsafe"

// The PIN-taking PKCS#11 calls (C_Login, C_SetPIN, C_InitPIN) take the
// PIN's bytes where they are, so that no copy is left behind for the
// caller's clearing to miss: through the direct calls (direct_unix.go) the
// module reads the caller's slice itself. Where there are none (Windows),
// they go through miekg/pkcs11, which takes strings: the string passed
// aliases the slice (no Go copy), but miekg/pkcs11 copies it into C memory
// (C.CString) and frees that without clearing it. An empty PIN is passed
// as NULL, which a PIN pad's login needs.

func (s *Session) pinLogin(userType uint, pin []byte) error {
	if s.mod.direct.available() {
		return s.mod.direct.login(s.sh, userType, pin)
	}
	return s.p11.Login(s.sh, userType, aliasString(pin))
}

func (s *Session) pinSet(oldPIN, newPIN []byte) error {
	if s.mod.direct.available() {
		return s.mod.direct.setPIN(s.sh, oldPIN, newPIN)
	}
	return s.p11.SetPIN(s.sh, aliasString(oldPIN), aliasString(newPIN))
}

func (s *Session) pinInit(pin []byte) error {
	if s.mod.direct.available() {
		return s.mod.direct.initPIN(s.sh, pin)
	}
	return s.p11.InitPIN(s.sh, aliasString(pin))
}

// aliasString is b as a string without a copy. The string must not outlive
// the call it is passed to, nor b change while it runs.
func aliasString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
