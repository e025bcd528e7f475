package token_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/tokenagent/tokenagent/token"
)

// signAs signs digest with alice-auth's key (EC-P256) as the agent's sign
// does: the certificate by id, its key, one signature.
func signAs(t *testing.T, m *token.Manager, id string, digest []byte) []byte {
	t.Helper()
	var sig []byte
	err := m.Login(context.Background(), id, token.Credentials{PIN: userPIN}, func(s *token.Session) error {
		cert, err := s.Certificate("02")
		if err != nil {
			return err
		}
		key, err := s.KeyForCertificate(cert)
		if err != nil {
			return err
		}
		sig, err = s.Sign(key, token.Mechanism{Scheme: token.ECDSA, Hash: crypto.SHA256}, digest)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestSignCalls counts, in the shim's call log, the PKCS#11 calls one sign
// makes once the token's mechanisms and certificates have been read: what
// each of them is for is listed in the package doc.
func TestSignCalls(t *testing.T) {
	ctl, m := shimmed(t)
	digest := sha256.Sum256([]byte("counted"))
	alice := tokensByLabel(t, m)["alice"].ID
	signAs(t, m, alice, digest[:]) // reads the mechanism list and the certificates
	ctl.ClearCalls(t)
	sig := signAs(t, m, alice, digest[:])
	want := []string{
		"C_GetTokenInfo",
		"C_GetSessionInfo",
		"C_Login",
		"C_GetAttributeValue",
		"C_FindObjectsInit", "C_FindObjects", "C_FindObjects", "C_FindObjectsFinal",
		"C_SignInit", "C_Sign",
		"C_Logout",
	}
	if got := ctl.Calls(t); !slices.Equal(got, want) {
		t.Errorf("one sign made %d calls:\n%q\nwant %d:\n%q", len(got), got, len(want), want)
	}
	if len(sig) != 64 {
		t.Errorf("signature of %d bytes, want r‖s of 64", len(sig))
	}
}
