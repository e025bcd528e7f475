package softhsm

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testSOPIN   = "87654321"
	testUserPIN = "4711"
)

// object is one entry of pkcs11-tool --list-objects.
type object struct{ kind, label, id string }

// listObjects returns the objects a logged-in user sees on the token.
func listObjects(t *testing.T, env *Env, token, pin string) []object {
	t.Helper()
	out, err := env.P11Tool([]string{pin}, "--token-label", token, "--login", "--pin", pin, "--list-objects")
	if err != nil {
		t.Fatal(err)
	}
	var objs []object
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, " Object;"):
			objs = append(objs, object{kind: line[:strings.Index(line, " Object;")]})
		case len(objs) > 0 && strings.HasPrefix(strings.TrimSpace(line), "label:"):
			objs[len(objs)-1].label = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "label:"))
		case len(objs) > 0 && strings.HasPrefix(strings.TrimSpace(line), "ID:"):
			objs[len(objs)-1].id = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "ID:"))
		}
	}
	return objs
}

// readCert reads the certificate with this id back from the token.
func readCert(t *testing.T, env *Env, token string, id []byte) *x509.Certificate {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cert.der")
	if _, err := env.P11Tool(nil, "--token-label", token, "--read-object", "--type", "cert",
		"--id", hex.EncodeToString(id), "--output-file", path); err != nil {
		t.Fatal(err)
	}
	der, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parsing certificate read from token: %v", err)
	}
	return cert
}

func TestAddKeyAndCert(t *testing.T) {
	env := New(t)
	ca, err := NewCA("softhsm test CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InitToken("fixtures", testSOPIN, testUserPIN); err != nil {
		t.Fatal(err)
	}
	// Whole seconds, as X.509 stores them, and within the CA's validity.
	base := time.Now().Truncate(time.Second)
	tests := []struct {
		name string
		spec CertSpec
	}{
		{"RSA-2048", CertSpec{
			KeyAlgorithm: "RSA-2048", ID: []byte{0x01}, Label: "rsa signing key",
			Subject:   pkix.Name{CommonName: "RSA User", Organization: []string{"tokenagent test"}},
			NotBefore: base, NotAfter: base.AddDate(2, 0, 0),
		}},
		{"EC-P256", CertSpec{
			KeyAlgorithm: "EC-P256", ID: []byte{0xc0, 0xff, 0xee}, Label: "ec-key",
			Subject:   pkix.Name{CommonName: "EC User"},
			NotBefore: base.Add(time.Hour), NotAfter: base.AddDate(0, 0, 20),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, key, err := env.AddKeyAndCert("fixtures", testUserPIN, ca, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{
				Roots:       certPool(ca.Cert),
				CurrentTime: tt.spec.NotBefore.Add(time.Minute),
				KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}); err != nil {
				t.Errorf("certificate does not chain to the CA: %v", err)
			}
			switch key.(type) {
			case *rsa.PrivateKey:
				if !strings.HasPrefix(tt.spec.KeyAlgorithm, "RSA") {
					t.Errorf("key is RSA, want %s", tt.spec.KeyAlgorithm)
				}
			case *ecdsa.PrivateKey:
				if !strings.HasPrefix(tt.spec.KeyAlgorithm, "EC") {
					t.Errorf("key is EC, want %s", tt.spec.KeyAlgorithm)
				}
			}

			id := hex.EncodeToString(tt.spec.ID)
			objs := listObjects(t, env, "fixtures", testUserPIN)
			for _, kind := range []string{"Private Key", "Public Key", "Certificate"} {
				want := object{kind: kind, label: tt.spec.Label, id: id}
				if !slices.Contains(objs, want) {
					t.Errorf("token has no %+v; objects: %+v", want, objs)
				}
			}

			got := readCert(t, env, "fixtures", tt.spec.ID)
			if !bytes.Equal(got.Raw, cert.Raw) {
				t.Error("certificate on token differs from the one returned")
			}
			if !got.NotBefore.Equal(tt.spec.NotBefore) || !got.NotAfter.Equal(tt.spec.NotAfter) {
				t.Errorf("validity = %v .. %v, want %v .. %v", got.NotBefore, got.NotAfter, tt.spec.NotBefore, tt.spec.NotAfter)
			}
			if got.Subject.String() != tt.spec.Subject.String() {
				t.Errorf("subject = %q, want %q", got.Subject, tt.spec.Subject)
			}

			// The token's private key must be the certificate's.
			data := []byte("tokenagent softhsm fixture")
			sig := signOnToken(t, env, "fixtures", testUserPIN, tt.spec.ID, got, data)
			if err := got.CheckSignature(sigAlgorithm(got), data, sig); err != nil {
				t.Errorf("token signature does not verify with the certificate: %v", err)
			}
		})
	}
}

// signOnToken signs data with the private key with this id, by SHA-256
// with PKCS#1 v1.5 or ECDSA to match cert's key.
func signOnToken(t *testing.T, env *Env, token, pin string, id []byte, cert *x509.Certificate, data []byte) []byte {
	t.Helper()
	mech := "SHA256-RSA-PKCS"
	if cert.PublicKeyAlgorithm == x509.ECDSA {
		// SoftHSM 2.6 has no CKM_ECDSA_SHA256: hash here, sign raw.
		mech = "ECDSA"
		sum := sha256.Sum256(data)
		data = sum[:]
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "sig")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := env.P11Tool([]string{pin}, "--token-label", token, "--login", "--pin", pin,
		"--sign", "--mechanism", mech, "--signature-format", "openssl",
		"--id", hex.EncodeToString(id), "--input-file", in, "--output-file", out); err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func sigAlgorithm(cert *x509.Certificate) x509.SignatureAlgorithm {
	if cert.PublicKeyAlgorithm == x509.ECDSA {
		return x509.ECDSAWithSHA256
	}
	return x509.SHA256WithRSA
}

func TestTwoTokensAndDelete(t *testing.T) {
	env := New(t)
	for _, label := range []string{"first", "second"} {
		if err := env.InitToken(label, testSOPIN, testUserPIN); err != nil {
			t.Fatal(err)
		}
	}
	assertLabels(t, env, "first", "second")
	if err := env.DeleteToken("first"); err != nil {
		t.Fatal(err)
	}
	assertLabels(t, env, "second")

	// The module, not only softhsm2-util, must agree.
	out, err := env.P11Tool(nil, "--list-slots")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "token label        : second") || strings.Contains(out, ": first") {
		t.Errorf("pkcs11-tool --list-slots does not show exactly token second:\n%s", out)
	}
}

func assertLabels(t *testing.T, env *Env, want ...string) {
	t.Helper()
	got, err := env.TokenLabels()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("token labels = %q, want %q", got, want)
	}
}

func TestInitTokenErrors(t *testing.T) {
	env := New(t)
	if err := env.InitToken("taken", testSOPIN, testUserPIN); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, label string
		wantIs      error
	}{
		{"duplicate label", "taken", ErrTokenExists},
		{"empty label", "", nil},
		{"label over 32 bytes", strings.Repeat("x", 33), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := env.InitToken(tt.label, testSOPIN, testUserPIN)
			if err == nil {
				t.Fatal("InitToken succeeded, want error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
		})
	}
}

// TestErrorsQuoteStderrNotPINs checks that failures explain themselves with
// the tool's message while the PINs on its command line stay out.
func TestErrorsQuoteStderrNotPINs(t *testing.T) {
	env := New(t)
	const pin = "secret-pin-9876"
	if err := env.InitToken("pins", "so-secret-5432", pin); err != nil {
		t.Fatal(err)
	}
	key, err := GenerateKey("EC-P256")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"import to missing token", func() error {
			return env.ImportKey("no-such-token", pin, []byte{1}, "k", key)
		}, "running softhsm2-util --import: exit status 1: ERROR: Could not find"},
		{"import with wrong PIN", func() error {
			return env.ImportKey("pins", "wrong-pin-1111", []byte{1}, "k", key)
		}, "running softhsm2-util --import: exit status 1: ERROR: The given user PIN does not match"},
		{"certificate with wrong PIN", func() error {
			return env.ImportCertificate("pins", "wrong-pin-1111", []byte{1}, "k", []byte("not DER"))
		}, "running pkcs11-tool --write-object: exit status 1:"},
		{"delete missing token", func() error {
			return env.DeleteToken("no-such-token")
		}, "running softhsm2-util --delete-token: exit status 1: ERROR: Could not find"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil {
				t.Fatal("succeeded, want error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			for _, secret := range []string{pin, "so-secret-5432", "wrong-pin-1111", "--pin"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q leaks %q", msg, secret)
				}
			}
		})
	}
	// No PKCS#8 file may outlive a failed import.
	if files, _ := filepath.Glob(filepath.Join(env.Dir, "key-*")); len(files) > 0 {
		t.Errorf("key files left behind: %v", files)
	}
}

func TestNewEnvKeepsTokens(t *testing.T) {
	env := New(t)
	if err := env.InitToken("kept", testSOPIN, testUserPIN); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(env.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewEnv(env.Dir)
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(again.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("NewEnv rewrote an unchanged softhsm2.conf")
	}
	assertLabels(t, again, "kept")
}

func TestEnviron(t *testing.T) {
	t.Setenv(confEnv, "/elsewhere/softhsm2.conf")
	env := &Env{ConfPath: "/here/softhsm2.conf"}
	var got []string
	for _, kv := range env.Environ() {
		if strings.HasPrefix(kv, confEnv+"=") {
			got = append(got, kv)
		}
	}
	if want := []string{confEnv + "=/here/softhsm2.conf"}; !slices.Equal(got, want) {
		t.Errorf("SOFTHSM2_CONF entries = %q, want %q", got, want)
	}
}

func TestParseLabels(t *testing.T) {
	tests := []struct {
		name, out string
		want      []string
	}{
		{"none", "Available slots:\n", nil},
		{"initialized and free", "Slot 1\n    Token info:\n        Label:            demo                            \n" +
			"Slot 2\n    Token info:\n        Label:                                            \n", []string{"demo"}},
		{"inner spaces kept", "        Label:            my token                        \n", []string{"my token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseLabels(tt.out); !slices.Equal(got, tt.want) {
				t.Errorf("parseLabels = %q, want %q", got, tt.want)
			}
		})
	}
}

func certPool(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}
