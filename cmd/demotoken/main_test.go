package main

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// demotoken runs a command line and returns its exit code and output.
func demotoken(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, bytes.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSetup(t *testing.T) {
	softhsm.New(t) // skips, or fails under CI, without SoftHSM
	dir := filepath.Join(t.TempDir(), "state")

	code, out, errOut := demotoken(t, nil, "-dir", dir)
	if code != 0 {
		t.Fatalf("setup: exit %d: %s", code, errOut)
	}
	for _, want := range []string{`Created token "demo"`, `Created token "legacy-demo"`, "user PIN 1234", filepath.Join(dir, auditName)} {
		if !strings.Contains(out, want) {
			t.Errorf("first run output lacks %q:\n%s", want, out)
		}
	}
	config, err := os.ReadFile(filepath.Join(dir, configName))
	if err != nil {
		t.Fatal(err)
	}
	module, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`modules = ["` + module + `"]`, `match_label = "^legacy-"`, `listen = "127.0.0.1:24321"`,
		`audit_log = "` + filepath.Join(dir, auditName) + `"`,
	} {
		if !strings.Contains(string(config), want) {
			t.Errorf("config.toml lacks %q:\n%s", want, config)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, caKeyName)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("CA key: %v; want a file of mode 0600", err)
	}

	now := time.Now()
	caPEM := checkCertificates(t, dir, now)

	code, out, _ = demotoken(t, nil, "-dir", dir, "setup")
	if code != 0 || !strings.Contains(out, "already set up") {
		t.Errorf("second run: exit %d, output:\n%s\nwant it to find the tokens set up", code, out)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, caName)); !bytes.Equal(again, caPEM) {
		t.Error("second run replaced the demo CA")
	}

	// A directory without the CA's key (a run that stopped halfway, or an
	// older demo that did not keep it) is set up from scratch.
	if err := os.Remove(filepath.Join(dir, caKeyName)); err != nil {
		t.Fatal(err)
	}
	code, out, _ = demotoken(t, nil, "-dir", dir)
	if code != 0 || !strings.Contains(out, `Removing incomplete token "demo"`) {
		t.Errorf("third run: exit %d, output:\n%s\nwant it to start over", code, out)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, caName)); bytes.Equal(again, caPEM) {
		t.Error("starting over kept the old CA")
	}
	env, err := softhsm.NewEnv(dir)
	if err != nil {
		t.Fatal(err)
	}
	if labels, err := env.TokenLabels(); err != nil || len(labels) != len(tokens) {
		t.Errorf("after starting over: labels %q, error %v; want one token each", labels, err)
	}
	checkCertificates(t, dir, now)
}

func TestReset(t *testing.T) {
	softhsm.New(t)
	dir := t.TempDir()
	if code, _, errOut := demotoken(t, nil, "-dir", dir); code != 0 {
		t.Fatalf("setup: exit %d: %s", code, errOut)
	}
	before := readCert(t, dir, "legacy-demo")
	code, out, errOut := demotoken(t, nil, "-dir", dir, "reset")
	if code != 0 {
		t.Fatalf("reset: exit %d: %s", code, errOut)
	}
	for _, want := range []string{`Deleting token "demo"`, `Deleting token "legacy-demo"`, `Created token "demo"`} {
		if !strings.Contains(out, want) {
			t.Errorf("reset output lacks %q:\n%s", want, out)
		}
	}
	after := readCert(t, dir, "legacy-demo")
	if after.Equal(before) || after.SerialNumber.Cmp(before.SerialNumber) == 0 {
		t.Error("reset kept the old certificate")
	}
	checkCertificates(t, dir, time.Now())
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{}, {"setup"}, {"-dir", "x", "frobnicate"}, {"-dir", "x", "run"}, {"-dir", "x", "issue", "-days", "0"},
		{"-dir", "x", "setup", "extra"}, {"-bogus"},
	} {
		if code, _, errOut := demotoken(t, nil, args...); code != 2 || !strings.Contains(errOut, "usage:") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and the usage", args, code, errOut)
		}
	}
}

func TestIssueRefusesWhatIsNotARequest(t *testing.T) {
	softhsm.New(t)
	dir := t.TempDir()
	if code, _, _ := demotoken(t, nil, "-dir", dir, "issue"); code != 1 {
		t.Errorf("issue without a demo CA: exit %d, want 1", code)
	}
	if code, _, errOut := demotoken(t, nil, "-dir", dir); code != 0 {
		t.Fatalf("setup: exit %d: %s", code, errOut)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caName))
	if err != nil {
		t.Fatal(err)
	}
	for name, input := range map[string][]byte{"empty": nil, "a certificate": caPEM, "text": []byte("not a csr")} {
		code, out, errOut := demotoken(t, input, "-dir", dir, "issue")
		if code != 1 || out != "" || !strings.Contains(errOut, "certificate request") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout, the reason", name, code, out, errOut)
		}
	}
}

// checkCertificates checks the demo tokens' certificates chain to the demo
// CA and expire when they should; it returns the CA's PEM.
func checkCertificates(t *testing.T, dir string, now time.Time) []byte {
	t.Helper()
	tests := []struct {
		token             string
		expiresAfter, by  time.Time
		wantPublicKeyAlgo x509.PublicKeyAlgorithm
	}{
		{"demo", now.AddDate(1, 0, -1), now.AddDate(1, 0, 1), x509.RSA},
		{"legacy-demo", now.AddDate(0, 0, 19), now.AddDate(0, 0, 21), x509.ECDSA},
	}
	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(dir, caName))
	if err != nil || !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("reading demo CA: %v", err)
	}
	for _, tt := range tests {
		cert := readCert(t, dir, tt.token)
		if cert.NotAfter.Before(tt.expiresAfter) || cert.NotAfter.After(tt.by) {
			t.Errorf("%s: certificate expires %v, want between %v and %v", tt.token, cert.NotAfter, tt.expiresAfter, tt.by)
		}
		if cert.PublicKeyAlgorithm != tt.wantPublicKeyAlgo {
			t.Errorf("%s: key algorithm %v, want %v", tt.token, cert.PublicKeyAlgorithm, tt.wantPublicKeyAlgo)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s: certificate does not chain to demo-ca.pem: %v", tt.token, err)
		}
	}
	return caPEM
}

func readCert(t *testing.T, dir, token string) *x509.Certificate {
	t.Helper()
	env, err := softhsm.NewEnv(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cert.der")
	if _, err := env.P11Tool(nil, "--token-label", token, "--read-object", "--type", "cert", "--id", "01", "--output-file", path); err != nil {
		t.Fatal(err)
	}
	der, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
