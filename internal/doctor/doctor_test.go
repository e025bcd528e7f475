package doctor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kardianos/service"

	"github.com/tokenagent/tokenagent/internal/config"
)

func TestServiceStates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		s         Service
		installed bool
		level     Level
		text      string // the start of the finding
	}{
		{"running", Service{Name: "tokenagent", Platform: "fake-init", Status: service.StatusRunning}, true, OK, "tokenagent is installed"},
		{"stopped", Service{Name: "tokenagent", Platform: "fake-init", Status: service.StatusStopped}, true, Fail, "tokenagent is installed"},
		{"not installed", Service{Name: "tokenagent", Platform: "fake-init", Err: service.ErrNotInstalled}, false, Warn, "tokenagent is not installed"},
		{"failing manager", Service{Name: "tokenagent", Platform: "fake-init", Err: errors.New("exit status 1")}, false, Warn, "the state of the system service (fake-init) is unknown: exit status 1"},
		{"unknown", Service{Name: "tokenagent", Platform: "fake-init", Status: service.StatusUnknown}, false, Warn, "the state of the system service (fake-init) is unknown"},
		{"no manager", Service{Unavailable: "no service manager found (x)"}, false, Warn, "no service manager found (x)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &checker{p: Probe{Service: func() Service { return tc.s }}}
			got := c.service()
			f := c.findings[0]
			if got != tc.installed || f.Level != tc.level || f.Topic != "service" || !strings.HasPrefix(f.Text, tc.text) {
				t.Errorf("installed = %v, finding %+v; want %v, level %v, %q", got, f, tc.installed, tc.level, tc.text)
			}
			if tc.name == "unknown" && f.Text != tc.text {
				t.Errorf("finding %q, want exactly %q", f.Text, tc.text)
			}
		})
	}
}

func TestTLSCertificate(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, notAfter time.Time) string {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
			NotBefore: notAfter.AddDate(-1, 0, 0), NotAfter: notAfter, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		cert  string
		level Level
		text  string
	}{
		{write("fresh.pem", time.Now().AddDate(0, 6, 0)), Info, "certificate"},
		{write("old.pem", time.Now().AddDate(0, 0, 10)), Warn, "the certificate"},
		{filepath.Join(dir, "missing.pem"), Fail, "the certificate"},
	}
	for _, tt := range tests {
		c := &checker{}
		c.tls(config.Config{TLS: config.TLS{Cert: tt.cert, Key: tt.cert + ".key"}})
		if f := c.findings[0]; f.Level != tt.level || f.Topic != "tls" || !strings.HasPrefix(f.Text, tt.text) {
			t.Errorf("%s: %+v, want level %v, a text starting with %q", filepath.Base(tt.cert), f, tt.level, tt.text)
		}
	}
}
