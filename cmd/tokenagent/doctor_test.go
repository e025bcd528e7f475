package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ebfe/scard"
	"github.com/kardianos/service"

	"github.com/tokenagent/tokenagent/internal/browserpolicy"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/doctor")

// startAgent runs the agent on a free loopback port with the module given,
// until the test ends, and returns its address.
func startAgent(t *testing.T, module string) string {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.toml")
	cfg := "listen = \"127.0.0.1:0\"\naudit_log = \"" + filepath.Join(dir, "audit.log") + "\"\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startRunAgent(t, "--config", cfgPath, "--module", module).addr.String()
}

// freeAddr returns a loopback address where nothing listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// testProbe is a Linux computer whose PC/SC service is in state readers,
// with Chrome, which has no policy, Chromium, whose policy pre-allows
// https://ca.example.com, and Firefox, whose policy pre-allows both of the
// configs' origins.
func testProbe(readers token.ReaderState) doctorProbe {
	return doctorProbe{
		goos:    "linux",
		getenv:  func(string) string { return "" },
		readers: func() token.ReaderState { return readers },
		timeout: 2 * time.Second,
		browsers: func(origins []string) []browserpolicy.Result {
			return browserpolicy.CheckFiles(fstest.MapFS{
				"opt/google/chrome/chrome":                 {Data: []byte("ELF")},
				"usr/lib/chromium/chromium":                {Data: []byte("ELF")},
				"usr/lib/firefox/firefox":                  {Data: []byte("ELF")},
				"etc/chromium/policies/managed/fleet.json": {Data: []byte(`{"LoopbackNetworkAllowedForUrls": ["https://ca.example.com"]}`)},
				"etc/firefox/policies/policies.json":       {Data: []byte(`{"policies": {"LocalNetworkAccess": {"SkipDomains": ["*.example.com"]}}}`)},
			}, origins)
		},
	}
}

// libVersion matches a PKCS#11 library version, which depends on the
// SoftHSM installed.
var libVersion = regexp.MustCompile(`version \d+\.\d+\)`)

// checkGolden compares got, with the values that vary from run to run
// replaced as in replace (old, new pairs), to testdata/doctor/name.golden.
func checkGolden(t *testing.T, name, got string, replace ...string) {
	t.Helper()
	replace = append(replace, "version "+agentVersion()+"\n", "version $VERSION\n",
		"version "+agentVersion()+",", "version $VERSION,")
	got = strings.NewReplacer(replace...).Replace(got)
	got = libVersion.ReplaceAllLiteralString(got, "version $LIBVERSION)")
	path := filepath.Join("testdata", "doctor", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("doctor output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestDoctorHealthy(t *testing.T) {
	env := softhsm.New(t)
	for _, label := range []string{"alice", "bob"} {
		if err := env.InitToken(label, "12345678", "1234"); err != nil {
			t.Fatal(err)
		}
	}
	addr := startAgent(t, env.Module)
	useFakeService(t, &fakeService{status: service.StatusRunning})
	cfgPath := writeConfig(t, `listen = "`+addr+`"
modules = ["`+env.Module+`"]
allowed_origins = ["https://ca.example.com", "https://shop.example.com"]
[[origin]]
origin = "https://shop.example.com"
methods = ["agent.info", "sign"]
`)
	probe := testProbe(token.ReaderState{Available: true, Readers: []token.Reader{
		{Name: "Virtual PCD 00 00", Present: true, ATR: []byte{0x3b, 0x80}},
		{Name: "Virtual PCD 00 01"},
	}})
	var stdout, stderr bytes.Buffer
	if code := doctorWith(probe, []string{"--config", cfgPath}, &stdout, &stderr); code != 0 {
		t.Errorf("exit code %d, want 0; stderr %q", code, stderr.String())
	}
	checkGolden(t, "healthy", stdout.String(), filepath.Dir(cfgPath), "$TMP", addr, "$ADDR", env.Module, "$SOFTHSM")
}

func TestDoctorBroken(t *testing.T) {
	useFakeService(t, &fakeService{status: service.StatusStopped})
	modDir := t.TempDir()
	addr := freeAddr(t)
	cfgPath := writeConfig(t, `listen = "`+addr+`"
modules = ["`+filepath.Join(modDir, "missing", "libnone.so")+`"]
allow_no_origin = false
`)
	probe := testProbe(token.ReaderState{Err: fmt.Errorf("establishing pc/sc context: %w",
		&token.PCSCError{Func: "SCardEstablishContext", Code: scard.ErrNoService})})
	var stdout, stderr bytes.Buffer
	if code := doctorWith(probe, []string{"--config", cfgPath}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1; stderr %q", code, stderr.String())
	}
	checkGolden(t, "broken", stdout.String(), filepath.Dir(cfgPath), "$TMP", modDir, "$MODDIR", addr, "$ADDR")
}

func TestDoctorInvalidConfig(t *testing.T) {
	useFakeService(t, &fakeService{statusErr: service.ErrNotInstalled})
	cfgPath := writeConfig(t, "listen = \"127.0.0.1:0\"\nmax_connections = \"many\"\npoll_interval = \"1x\"\n")
	var stdout, stderr bytes.Buffer
	if code := doctorWith(testProbe(token.ReaderState{Available: true}), []string{"--config", cfgPath}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1; stderr %q", code, stderr.String())
	}
	checkGolden(t, "invalid-config", stdout.String(), filepath.Dir(cfgPath), "$TMP")
}

func TestDoctorUsage(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"--frobnicate"}} {
		var stdout, stderr bytes.Buffer
		if code := doctorWith(testProbe(token.ReaderState{}), args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage:") {
			t.Errorf("doctor %q = %d, %q; want 2 with usage", args, code, stderr.String())
		}
	}
}

func TestDoctorServiceStates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		f         *fakeService
		installed bool
		line      string // the start of the finding
	}{
		{"running", &fakeService{status: service.StatusRunning}, true, "[ok]   service: tokenagent is installed"},
		{"stopped", &fakeService{status: service.StatusStopped}, true, "[FAIL] service: tokenagent is installed"},
		{"not installed", &fakeService{statusErr: service.ErrNotInstalled}, false, "[warn] service: tokenagent is not installed"},
		{"failing manager", &fakeService{statusErr: errors.New("exit status 1")}, false, "[warn] service: the state of the system service (fake-init) is unknown: exit status 1"},
		{"unknown", &fakeService{status: service.StatusUnknown}, false, "[warn] service: the state of the system service (fake-init) is unknown\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			useFakeService(t, tc.f)
			var out bytes.Buffer
			d := &doctor{probe: testProbe(token.ReaderState{}), w: &out}
			if got := d.checkService(); got != tc.installed || !strings.HasPrefix(out.String(), tc.line) {
				t.Errorf("installed = %v, output %q; want %v, %q", got, out.String(), tc.installed, tc.line)
			}
		})
	}
}

func TestDoctorTLSCertificate(t *testing.T) {
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
		cert string
		want string
	}{
		{write("fresh.pem", time.Now().AddDate(0, 6, 0)), "[info] tls: certificate"},
		{write("old.pem", time.Now().AddDate(0, 0, 10)), "[warn] tls: the certificate"},
		{filepath.Join(dir, "missing.pem"), "[FAIL] tls: the certificate"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		d := &doctor{w: &out}
		d.checkTLS(Config{TLS: TLSConfig{Cert: tt.cert, Key: tt.cert + ".key"}})
		if !strings.HasPrefix(out.String(), tt.want) {
			t.Errorf("%s: %q, want it to start with %q", filepath.Base(tt.cert), out.String(), tt.want)
		}
	}
}
