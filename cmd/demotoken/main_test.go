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

func TestRun(t *testing.T) {
	softhsm.New(t) // skips, or fails under CI, without SoftHSM
	dir := filepath.Join(t.TempDir(), "state")

	var out bytes.Buffer
	if err := run(dir, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`Created token "demo"`, `Created token "legacy-demo"`, "user PIN 1234"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("first run output lacks %q:\n%s", want, out.String())
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
	for _, want := range []string{`modules = ["` + module + `"]`, `match_label = "^legacy-"`, `listen = "127.0.0.1:24321"`} {
		if !strings.Contains(string(config), want) {
			t.Errorf("config.toml lacks %q:\n%s", want, config)
		}
	}

	now := time.Now()
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
		t.Run(tt.token, func(t *testing.T) {
			cert := readCert(t, dir, tt.token)
			if cert.NotAfter.Before(tt.expiresAfter) || cert.NotAfter.After(tt.by) {
				t.Errorf("certificate expires %v, want between %v and %v", cert.NotAfter, tt.expiresAfter, tt.by)
			}
			if cert.PublicKeyAlgorithm != tt.wantPublicKeyAlgo {
				t.Errorf("key algorithm %v, want %v", cert.PublicKeyAlgorithm, tt.wantPublicKeyAlgo)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("certificate does not chain to demo-ca.pem: %v", err)
			}
		})
	}

	out.Reset()
	if err := run(dir, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing to do") {
		t.Errorf("second run did not report nothing to do:\n%s", out.String())
	}
	if again, _ := os.ReadFile(filepath.Join(dir, caName)); !bytes.Equal(again, caPEM) {
		t.Error("second run replaced the demo CA")
	}

	// A run that died before writing config.toml is redone from scratch.
	if err := os.Remove(filepath.Join(dir, configName)); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(dir, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `Removing incomplete token "demo"`) {
		t.Errorf("third run did not start over:\n%s", out.String())
	}
	env, err := softhsm.NewEnv(dir)
	if err != nil {
		t.Fatal(err)
	}
	if labels, err := env.TokenLabels(); err != nil || len(labels) != len(tokens) {
		t.Errorf("after starting over: labels %q, error %v; want one token each", labels, err)
	}
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
