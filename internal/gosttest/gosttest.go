// Package gosttest holds what the GOST tests of several packages share: a
// GOST R 34.10-2012 test CA made with OpenSSL, and the independent
// verifiers of what the agent makes: OpenSSL with its GOST engine (Debian's
// libengine-gost-openssl), GnuTLS's certtool and Botan's command line tool.
// It is for tests only. A missing tool skips the test, or fails it under CI.
//
// Every verifier returns nil when the signature verifies and an error with
// the tool's output when it does not, so that a test can show the tool
// accepting what the agent made and refusing it tampered with.
package gosttest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/internal/openssl"
)

// ErrRefused is what the verifiers wrap when a tool says no.
var ErrRefused = errors.New("verification refused")

// CA is a GOST test CA: its key and certificate are files in Dir, made and
// used by OpenSSL alone. Its key is on TC26-256-B: GnuTLS 3.7 has no curve
// for TC26-256-A, and refuses certificates signed on it.
type CA struct {
	Dir  string
	PEM  []byte
	Cert *x509.Certificate
}

// NewCA makes a GOST R 34.10-2012-256 CA, valid for ten years, in a new
// temporary directory.
func NewCA(t testing.TB, commonName string) *CA {
	t.Helper()
	dir := t.TempDir()
	if out, ok := openssl.RunGOST(t, dir, "req", "-x509", "-newkey", "gost2012_256", "-pkeyopt", "paramset:TCB",
		"-nodes", "-keyout", "ca.key", "-subj", "/CN="+commonName, "-days", "3650", "-md_gost12_256",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem"); !ok {
		t.Fatalf("making the GOST CA: %s", out)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Dir: dir, PEM: caPEM, Cert: parsePEM(t, caPEM)}
}

// Issue certifies the request csrPEM for signing (digitalSignature,
// nonRepudiation) for a year, with openssl x509 -req.
func (ca *CA) Issue(t testing.TB, csrPEM []byte) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	openssl.WriteFiles(t, ca.Dir, map[string][]byte{
		"req.pem":  csrPEM,
		"user.ext": []byte("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=emailProtection\n"),
	})
	if out, ok := openssl.RunGOST(t, ca.Dir, "x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca.key",
		"-set_serial", "0x"+serial.Text(16), "-days", "365", "-md_gost12_256", "-extfile", "user.ext", "-out", "user.pem"); !ok {
		t.Fatalf("issuing a GOST certificate: %s", out)
	}
	der, err := os.ReadFile(filepath.Join(ca.Dir, "user.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return parsePEM(t, der)
}

func parsePEM(t testing.TB, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("no PEM in %q", b)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// OpenSSLCSR checks a PEM request's signature with openssl req -verify,
// which exits 0 whether or not the signature verifies (OpenSSL 3.0), so
// its verdict is read from what it prints.
func OpenSSLCSR(t testing.TB, csrPEM []byte) error {
	t.Helper()
	dir := t.TempDir()
	openssl.WriteFiles(t, dir, map[string][]byte{"req.pem": csrPEM})
	out, ok := openssl.RunGOST(t, dir, "req", "-verify", "-noout", "-in", "req.pem")
	return refusal(out, ok && strings.Contains(out, "self-signature verify OK"))
}

// OpenSSLRaw checks a raw GOST signature of data with openssl dgst
// -verify, under the public key spki (DER SubjectPublicKeyInfo).
func OpenSSLRaw(t testing.TB, spki []byte, bits int, data, sig []byte) error {
	t.Helper()
	dir := rawFiles(t, spki, data, sig)
	return refusal(openssl.RunGOST(t, dir, "dgst", fmt.Sprintf("-md_gost12_%d", bits),
		"-verify", "key.pem", "-signature", "sig.bin", "data.bin"))
}

// BotanRaw checks a raw GOST signature of data with botan verify.
func BotanRaw(t testing.TB, spki []byte, bits int, data, sig []byte) error {
	t.Helper()
	dir := rawFiles(t, spki, data, sig)
	// botan takes the signature in base64, and exits 0 either way.
	openssl.WriteFiles(t, dir, map[string][]byte{"sig.b64": []byte(base64.StdEncoding.EncodeToString(sig))})
	out, _ := run(t, "botan", "botan", dir, "verify", fmt.Sprintf("--hash=Streebog-%d", bits), "key.pem", "data.bin", "sig.b64")
	if strings.TrimSpace(out) != "Signature is valid" {
		return fmt.Errorf("botan verify: %w: %s", ErrRefused, strings.TrimSpace(out))
	}
	return nil
}

// OpenSSLCMS checks a DER CMS signature with openssl cms -verify -cades,
// which checks signing-certificate-v2 too, trusting caPEM; content is the
// signed data of a detached signature, nil for an attached one, whose
// content must then equal attached.
func OpenSSLCMS(t testing.TB, caPEM, sig, content, attached []byte) error {
	t.Helper()
	dir := t.TempDir()
	openssl.WriteFiles(t, dir, map[string][]byte{"ca.pem": caPEM, "sig.p7s": sig})
	args := []string{"-verify", "-binary", "-inform", "DER", "-in", "sig.p7s", "-CAfile", "ca.pem", "-cades", "-out", "out.bin"}
	if content != nil {
		openssl.WriteFiles(t, dir, map[string][]byte{"data.bin": content})
		args = append(args, "-content", "data.bin")
	}
	if err := refusal(openssl.RunGOST(t, dir, "cms", args...)); err != nil {
		return err
	}
	if content == nil {
		out, err := os.ReadFile(filepath.Join(dir, "out.bin"))
		if err != nil || string(out) != string(attached) {
			return fmt.Errorf("openssl cms: the attached content is %q, want %q (%v)", out, attached, err)
		}
	}
	return nil
}

// CertToolCMS checks a DER CMS signature with GnuTLS's certtool
// --p7-verify, trusting caPEM; content as for OpenSSLCMS.
func CertToolCMS(t testing.TB, caPEM, sig, content []byte) error {
	t.Helper()
	dir := t.TempDir()
	openssl.WriteFiles(t, dir, map[string][]byte{"ca.pem": caPEM, "sig.p7s": sig})
	args := []string{"--p7-verify", "--inder", "--infile", "sig.p7s", "--load-ca-certificate", "ca.pem"}
	if content != nil {
		openssl.WriteFiles(t, dir, map[string][]byte{"data.bin": content})
		args = append(args, "--load-data", "data.bin")
	}
	out, ok := run(t, "certtool", "gnutls-bin", dir, args...)
	if !ok || !strings.Contains(out, "Signature status: ok") {
		return fmt.Errorf("certtool --p7-verify: %w: %s", ErrRefused, strings.TrimSpace(out))
	}
	return nil
}

// rawFiles writes the key, data and signature for the raw verifiers into a
// new directory.
func rawFiles(t testing.TB, spki, data, sig []byte) string {
	t.Helper()
	dir := t.TempDir()
	openssl.WriteFiles(t, dir, map[string][]byte{
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}),
		"data.bin": data,
		"sig.bin":  sig,
	})
	return dir
}

// refusal turns a tool's output and success into a verifier's result.
func refusal(out string, ok bool) error {
	if !ok {
		return fmt.Errorf("%w: %s", ErrRefused, strings.TrimSpace(out))
	}
	return nil
}

// run runs tool (from Debian package pkg) in dir and returns its combined
// output and whether it exited 0.
func run(t testing.TB, tool, pkg, dir string, args ...string) (string, bool) {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		msg := fmt.Sprintf("%s not installed (Debian package %s): %v", tool, pkg, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this is not skipped)")
		}
		t.Skip(msg)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}
