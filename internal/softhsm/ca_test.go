package softhsm

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestGenerateKey(t *testing.T) {
	tests := []struct {
		algorithm string
		rsaBits   int
		curve     elliptic.Curve
	}{
		{"RSA-2048", 2048, nil},
		{"RSA-3072", 3072, nil},
		{"RSA-4096", 4096, nil},
		{"EC-P256", 0, elliptic.P256()},
		{"EC-P384", 0, elliptic.P384()},
	}
	for _, tt := range tests {
		t.Run(tt.algorithm, func(t *testing.T) {
			key, err := GenerateKey(tt.algorithm)
			if err != nil {
				t.Fatal(err)
			}
			switch k := key.(type) {
			case *rsa.PrivateKey:
				if k.N.BitLen() != tt.rsaBits {
					t.Errorf("RSA key of %d bits, want %d", k.N.BitLen(), tt.rsaBits)
				}
			case *ecdsa.PrivateKey:
				if k.Curve != tt.curve {
					t.Errorf("curve %s, want %v", k.Curve.Params().Name, tt.curve)
				}
			default:
				t.Errorf("unexpected key type %T", key)
			}
		})
	}
	if _, err := GenerateKey("DSA-1024"); err == nil {
		t.Error("GenerateKey(DSA-1024) succeeded, want error")
	}
}

func TestCA(t *testing.T) {
	ca, err := NewCA("Test Root")
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || ca.Cert.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA: IsCA=%v KeyUsage=%b", ca.Cert.IsCA, ca.Cert.KeyUsage)
	}
	if years := ca.Cert.NotAfter.Sub(ca.Cert.NotBefore).Hours() / 24 / 365; years < 9.9 {
		t.Errorf("CA valid for %.1f years, want 10", years)
	}
	if block, _ := pem.Decode(ca.PEM); block == nil || !bytes.Equal(block.Bytes, ca.Cert.Raw) {
		t.Error("CA.PEM does not hold CA.Cert")
	}

	key, err := GenerateKey("EC-P256")
	if err != nil {
		t.Fatal(err)
	}
	notBefore := time.Now().Add(-time.Minute)
	notAfter := notBefore.AddDate(0, 6, 0)
	subject := pkix.Name{CommonName: "Jane Doe", Organization: []string{"Example"}}
	cert, err := ca.Issue(key.Public(), subject, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:     certPool(ca.Cert),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}); err != nil {
		t.Errorf("issued certificate does not verify: %v", err)
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"not a CA", !cert.IsCA},
		{"key usage", cert.KeyUsage == x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment},
		{"extended key usage", slices.Equal(cert.ExtKeyUsage,
			[]x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth})},
		{"subject key id", len(cert.SubjectKeyId) == 20},
		{"authority key id", bytes.Equal(cert.AuthorityKeyId, ca.Cert.SubjectKeyId) && len(ca.Cert.SubjectKeyId) > 0},
		{"validity in whole seconds", cert.NotBefore.Equal(notBefore.Truncate(time.Second)) &&
			cert.NotAfter.Equal(notAfter.Truncate(time.Second))},
		{"positive serial", cert.SerialNumber.Sign() > 0},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: wrong", tt.name)
		}
	}

	other, err := ca.Issue(key.Public(), subject, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	if other.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
	if _, err := ca.Issue(key.Public(), subject, notAfter, notBefore); err == nil {
		t.Error("Issue with notAfter before notBefore succeeded, want error")
	}
}

func TestCASaveLoadAndIssueRequest(t *testing.T) {
	ca, err := NewCA("Saved Root")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if err := ca.Save(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	loaded, err := LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) || !bytes.Equal(loaded.PEM, ca.PEM) {
		t.Error("LoadCA gave another certificate")
	}

	key, err := GenerateKey("RSA-2048")
	if err != nil {
		t.Fatal(err)
	}
	subject := pkix.Name{CommonName: "Requester", Organization: []string{"Example"}}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: subject, DNSNames: []string{"host.example"}, EmailAddresses: []string{"r@example.com"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	now := time.Now()
	for name, input := range map[string][]byte{"PEM": csrPEM, "DER": der} {
		cert, err := loaded.IssueRequest(input, now, now.AddDate(1, 0, 0))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: certPool(ca.Cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s: issued certificate does not verify with the saved CA: %v", name, err)
		}
		if cert.Subject.String() != subject.String() || !slices.Equal(cert.DNSNames, []string{"host.example"}) ||
			!slices.Equal(cert.EmailAddresses, []string{"r@example.com"}) {
			t.Errorf("%s: issued for %v %v %v, want the request's names", name, cert.Subject, cert.DNSNames, cert.EmailAddresses)
		}
		if !cert.PublicKey.(*rsa.PublicKey).Equal(key.Public()) {
			t.Errorf("%s: issued for another key", name)
		}
	}

	tampered := bytes.Clone(der)
	tampered[len(tampered)-1] ^= 1
	bad := map[string][]byte{
		"tampered signature": tampered,
		"not a request":      ca.PEM,
		"garbage":            []byte("hello"),
	}
	for name, input := range bad {
		if _, err := loaded.IssueRequest(input, now, now.AddDate(1, 0, 0)); err == nil {
			t.Errorf("%s: issued, want an error", name)
		}
	}

	other, err := NewCA("Other Root")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Save(filepath.Join(dir, "other.pem"), filepath.Join(dir, "other.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(certFile, filepath.Join(dir, "other.key")); err == nil {
		t.Error("LoadCA with another CA's key succeeded")
	}
}
