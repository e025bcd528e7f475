package localtls

import (
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"
)

func TestIssueVerifiesForLoopbackNames(t *testing.T) {
	now := time.Now()
	in, err := Issue(now)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(in.CA)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := in.Cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("verifying for %s: %v", name, err)
		}
	}
	if got := in.CA.NotAfter.Sub(now); got > CAValidity || got < CAValidity-time.Minute {
		t.Errorf("CA valid for %v, want %v", got, CAValidity)
	}
	if got := in.Cert.NotAfter.Sub(now); got > CertValidity || got < CertValidity-time.Minute {
		t.Errorf("certificate valid for %v, want %v", got, CertValidity)
	}
	if !in.CA.PermittedDNSDomainsCritical || len(in.CA.PermittedDNSDomains) != 1 || len(in.CA.PermittedIPRanges) != 2 {
		t.Errorf("CA constraints: critical %v, DNS %v, IP %v", in.CA.PermittedDNSDomainsCritical, in.CA.PermittedDNSDomains, in.CA.PermittedIPRanges)
	}
	if !in.CA.MaxPathLenZero || in.CA.MaxPathLen != 0 {
		t.Errorf("CA may sign intermediates: MaxPathLen %d", in.CA.MaxPathLen)
	}
}

// TestNameConstraintsRejectOtherNames issues certificates for other names
// under an authority made as Issue makes them, whose key the test keeps:
// verification must refuse them because of the name constraints.
func TestNameConstraintsRejectOtherNames(t *testing.T) {
	now := time.Now()
	ca, caKey, err := newCA(now)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, tc := range []struct {
		name string
		dns  []string
		ips  []net.IP
	}{
		{"example.com", []string{"example.com"}, nil},
		{"localhost.example.com", []string{"localhost.example.com"}, nil},
		{"192.168.1.1", nil, []net.IP{net.IPv4(192, 168, 1, 1)}},
		{"127.0.0.2", nil, []net.IP{net.IPv4(127, 0, 0, 2)}},
		// The constrained names next to another: the whole certificate fails.
		{"example.com", []string{"localhost", "example.com"}, nil},
	} {
		leaf, _, err := issueLeaf(ca, caKey, now, tc.dns, tc.ips)
		if err != nil {
			t.Fatal(err)
		}
		_, err = leaf.Verify(x509.VerifyOptions{DNSName: tc.name, Roots: roots})
		var invalid x509.CertificateInvalidError
		if !errors.As(err, &invalid) || invalid.Reason != x509.CANotAuthorizedForThisName {
			t.Errorf("certificate for %v %v: Verify = %v, want a name-constraint violation", tc.dns, tc.ips, err)
		}
	}
	// The control: a permitted name under the same authority verifies.
	leaf, _, err := issueLeaf(ca, caKey, now, []string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots}); err != nil {
		t.Errorf("certificate for localhost: %v", err)
	}
}
