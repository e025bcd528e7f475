package browsertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// PublicSite is a web site as a real portal is to the browser: HTTPS on a
// public address under a DNS name. It is served on 127.0.0.1, under test
// names that the browser resolves there (--host-resolver-rules) and on a
// port it treats as a public address (--ip-address-space-overrides), so
// that Chromium applies Local Network Access to its pages' requests to the
// agent. Its certificate comes from a CA of the test that the browser
// trusts through an NSS database in a temporary HOME.
type PublicSite struct {
	// Port is the site's port on 127.0.0.1.
	Port  string
	names []string
	home  string
}

// ServePublic serves h as a PublicSite under names (e.g. "portal.test")
// until the test ends. It needs NSS's certutil (libnss3-tools): without it
// the test is skipped, or fails under CI.
func ServePublic(t testing.TB, h http.Handler, names ...string) *PublicSite {
	t.Helper()
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("certutil not found, and CI is set: %v (apt-get install libnss3-tools, or make deps)", err)
		}
		t.Skipf("certutil not found (%v): install libnss3-tools, or make deps", err)
	}
	caPEM, leaf, err := siteCertificates(names)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb") // where Chromium on Linux looks
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(home, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + db, "--empty-password"},
		{"-A", "-d", "sql:" + db, "-n", "tokenagent test CA", "-t", "C,,", "-i", caFile},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12},
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return &PublicSite{Port: port, names: names, home: home}
}

// Origin is the origin of the site under name, one of its names.
func (s *PublicSite) Origin(name string) string { return "https://" + name + ":" + s.Port }

// Options are the flags and environment that make a browser from New see
// the site as public and trust its certificate.
func (s *PublicSite) Options() []chromedp.ExecAllocatorOption {
	rules := make([]string, len(s.names))
	for i, n := range s.names {
		rules[i] = "MAP " + n + " 127.0.0.1"
	}
	return []chromedp.ExecAllocatorOption{
		chromedp.Env("HOME=" + s.home),
		chromedp.Flag("host-resolver-rules", strings.Join(rules, ", ")),
		chromedp.Flag("ip-address-space-overrides", "127.0.0.1:"+s.Port+"=public"),
	}
}

// siteCertificates makes a CA and a server certificate under it for names.
func siteCertificates(names []string) (caPEM []byte, leaf tls.Certificate, err error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tokenagent browser test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, leaf, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, leaf, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, leaf, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
