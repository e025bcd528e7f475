package localtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Validity periods: the authority outlives the certificate it signs, and
// the server certificate stays within the 398 days browsers accept.
const (
	CAValidity   = 825 * 24 * time.Hour
	CertValidity = 398 * 24 * time.Hour
)

// RenewBefore is how long before its expiry the server certificate is due
// for renewal.
const RenewBefore = 30 * 24 * time.Hour

// RenewalDue tells whether the server certificate cert has under
// RenewBefore left at now.
func RenewalDue(cert *x509.Certificate, now time.Time) bool {
	return cert.NotAfter.Sub(now) < RenewBefore
}

// The names the server certificate is for, and the only names the
// authority may certify (a DNS constraint also admits subdomains, so
// *.localhost too, which RFC 6761 keeps on the loopback interface).
var (
	DNSNames    = []string{"localhost"}
	IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
)

// Issued is what Issue made: the authority's certificate and the server
// certificate with its key. The authority's key is not part of it.
type Issued struct {
	CA      *x509.Certificate
	CAPEM   []byte
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte // PKCS #8, "PRIVATE KEY"
}

// Issue creates a fresh authority valid from now, issues the server
// certificate for localhost, 127.0.0.1 and ::1 under it, and drops the
// authority's private key before returning: the key is never written
// anywhere and no reference to it outlives the call.
//
// Go has no way to wipe an ECDSA key in place. Built with
// GOEXPERIMENT=runtimesecret on linux/amd64 or linux/arm64, the key's
// whole life runs inside runtime/secret.Do, which erases the registers
// and stack it used on return and its heap memory once collected;
// otherwise the key's memory is left to the garbage collector.
func Issue(now time.Time) (*Issued, error) {
	var issued *Issued
	var err error
	withSecret(func() { issued, err = issue(now) })
	return issued, err
}

func issue(now time.Time) (*Issued, error) {
	ca, caKey, err := newCA(now)
	if err != nil {
		return nil, err
	}
	cert, key, err := issueLeaf(ca, caKey, now, DNSNames, IPAddresses)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the server key: %w", err)
	}
	return &Issued{
		CA:      ca,
		CAPEM:   pemCert(ca),
		Cert:    cert,
		CertPEM: pemCert(cert),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// newCA creates a name-constrained authority and returns it with its key.
// Only Issue and tests hold that key.
func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"tokenagent"},
			// The date tells one setup's authority from the next in a
			// certificate manager's list.
			CommonName: "tokenagent local CA " + now.UTC().Format("2006-01-02 15:04:05"),
		},
		NotBefore:                   now.Add(-time.Hour), // tolerate a little clock skew
		NotAfter:                    now.Add(CAValidity),
		IsCA:                        true,
		BasicConstraintsValid:       true,
		MaxPathLen:                  0,
		MaxPathLenZero:              true,
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:                 []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         DNSNames,
		PermittedIPRanges: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 1).To4(), Mask: net.CIDRMask(32, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the CA certificate: %w", err)
	}
	return cert, key, nil
}

// issueLeaf issues a server certificate for the names given under ca.
func issueLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time, dnsNames []string, ips []net.IP) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	cn := ""
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	notAfter := now.Add(CertValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"tokenagent"}, CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the server certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the server certificate: %w", err)
	}
	return cert, key, nil
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("choosing a serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // never zero
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// Fingerprint is the lowercase hex SHA-256 of the certificate's DER.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}
