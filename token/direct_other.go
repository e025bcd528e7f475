//go:build !unix

package token

import "github.com/miekg/pkcs11"

// directCalls is direct_unix.go's on systems without dlopen: none, so
// every call goes through miekg/pkcs11, which asks for each length first.
type directCalls struct{}

func openDirect(string) directCalls { return directCalls{} }

func (directCalls) available() bool { return false }

func (directCalls) close() {}

func (directCalls) attribute(pkcs11.SessionHandle, pkcs11.ObjectHandle, uint, int) ([]byte, error) {
	panic("token: no direct calls on this system")
}

func (directCalls) sign(pkcs11.SessionHandle, []byte, int) ([]byte, error) {
	panic("token: no direct calls on this system")
}
