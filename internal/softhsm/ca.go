package softhsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// KeyAlgorithms lists the names GenerateKey accepts.
var KeyAlgorithms = []string{"RSA-2048", "RSA-3072", "RSA-4096", "EC-P256", "EC-P384"}

// GenerateKey makes a software key pair: "RSA-2048", "RSA-3072", "RSA-4096",
// "EC-P256" or "EC-P384".
func GenerateKey(algorithm string) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch algorithm {
	case "RSA-2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "RSA-3072":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case "RSA-4096":
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	case "EC-P256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EC-P384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		return nil, fmt.Errorf("generating key: unknown algorithm %q (want one of %v)", algorithm, KeyAlgorithms)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", algorithm, err)
	}
	return key, nil
}

// CA is a software test CA whose key never touches a token. Tests keep it
// in memory; the demo keeps it in its directory (Save, LoadCA) so that it
// can issue the certificates people request through the self-service page.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte // Cert, PEM encoded, for trust stores and files
}

// NewCA makes a self-signed ECDSA P-256 CA valid for ten years from an hour
// ago (the hour absorbs clock skew between test processes).
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	notBefore := time.Now().Add(-time.Hour).Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	return &CA{
		Cert: cert,
		Key:  key,
		PEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// Issue signs an end-entity certificate of the kind smart-card users carry:
// signing and non-repudiation, for e-mail protection and client auth.
// Validity is kept to whole seconds, as X.509 encodes it.
func (ca *CA) Issue(pub crypto.PublicKey, subject pkix.Name, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	return ca.issue(pub, subject, notBefore, notAfter, nil)
}

// issue is Issue with a hook that adds to the template (the names of a
// request).
func (ca *CA) issue(pub crypto.PublicKey, subject pkix.Name, notBefore, notAfter time.Time, extra func(*x509.Certificate)) (*x509.Certificate, error) {
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("issuing certificate for %q: notAfter %v is not after notBefore %v", subject.CommonName, notAfter, notBefore)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    notBefore.Truncate(time.Second),
		NotAfter:     notAfter.Truncate(time.Second),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth},
		// CreateCertificate fills the authority key id from the CA's SKI.
		SubjectKeyId:          ski,
		BasicConstraintsValid: true,
	}
	if extra != nil {
		extra(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate for %q: %w", subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing issued certificate: %w", err)
	}
	return cert, nil
}

// IssueRequest issues a certificate for a PKCS#10 request, in PEM or DER,
// as Issue does, after checking the request's signature: the subject, DNS
// names and e-mail addresses are the request's.
func (ca *CA) IssueRequest(csr []byte, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	if block, _ := pem.Decode(csr); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("reading certificate request: PEM block is %q, want CERTIFICATE REQUEST", block.Type)
		}
		csr = block.Bytes
	}
	req, err := x509.ParseCertificateRequest(csr)
	if err != nil {
		return nil, fmt.Errorf("reading certificate request: %w", err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("checking certificate request signature: %w", err)
	}
	return ca.issue(req.PublicKey, req.Subject, notBefore, notAfter, func(tmpl *x509.Certificate) {
		tmpl.DNSNames = req.DNSNames
		tmpl.EmailAddresses = req.EmailAddresses
	})
}

// Save writes the CA's certificate to certFile and its key, as PKCS#8 PEM
// readable by the owner only, to keyFile.
func (ca *CA) Save(certFile, keyFile string) error {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return fmt.Errorf("encoding CA key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("writing CA key: %w", err)
	}
	if err := os.WriteFile(certFile, ca.PEM, 0o644); err != nil {
		return fmt.Errorf("writing CA certificate: %w", err)
	}
	return nil
}

// LoadCA reads a CA that Save wrote.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("reading CA certificate %s: no CERTIFICATE PEM block", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificate %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading CA key: %w", err)
	}
	block, _ = pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("reading CA key %s: no PRIVATE KEY PEM block", keyFile)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("reading CA key %s: %w", keyFile, err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("reading CA key %s: %T cannot sign", keyFile, parsed)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("reading CA: key %s does not belong to certificate %s", keyFile, certFile)
	}
	return &CA{Cert: cert, Key: key, PEM: certPEM}, nil
}

// publicKeysEqual compares two public keys of the kinds crypto/x509 parses.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// randomSerial returns a positive 127-bit serial, unique in practice, so
// that certificates from different test runs never collide.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// subjectKeyID is RFC 5280's method 1: the SHA-1 of the subjectPublicKey bits.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &spki); err != nil || len(rest) > 0 {
		return nil, errors.Join(errors.New("decoding public key"), err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// CertSpec describes a key pair and certificate for AddKeyAndCert.
type CertSpec struct {
	KeyAlgorithm string    // as for GenerateKey; empty means "EC-P256"
	ID           []byte    // CKA_ID of key and certificate; required
	Label        string    // CKA_LABEL of key and certificate; required
	Subject      pkix.Name // empty means CN=Label
	NotBefore    time.Time // zero means an hour ago
	NotAfter     time.Time // zero means a year after NotBefore
	// AlwaysAuthenticate makes the key on the token, with
	// CKA_ALWAYS_AUTHENTICATE set: each use needs a login of its own, as
	// PIV signature keys do. Its private half never leaves the token, so
	// AddKeyAndCert returns no crypto.Signer for it.
	AlwaysAuthenticate bool
}

// AddKeyAndCert generates a key, has ca certify it and stores key pair and
// certificate on the token under spec.ID and spec.Label. It returns the
// certificate and the software key, so tests can check signatures.
func (e *Env) AddKeyAndCert(tokenLabel, userPIN string, ca *CA, spec CertSpec) (*x509.Certificate, crypto.Signer, error) {
	if len(spec.ID) == 0 || spec.Label == "" {
		return nil, nil, errors.New("adding key and certificate: spec needs ID and Label")
	}
	if spec.KeyAlgorithm == "" {
		spec.KeyAlgorithm = "EC-P256"
	}
	if spec.Subject.String() == "" {
		spec.Subject = pkix.Name{CommonName: spec.Label}
	}
	if spec.NotBefore.IsZero() {
		spec.NotBefore = time.Now().Add(-time.Hour)
	}
	if spec.NotAfter.IsZero() {
		spec.NotAfter = spec.NotBefore.AddDate(1, 0, 0)
	}
	var key crypto.Signer
	var pub crypto.PublicKey
	if spec.AlwaysAuthenticate {
		var err error
		if pub, err = e.generateKey(tokenLabel, userPIN, spec.ID, spec.Label, spec.KeyAlgorithm); err != nil {
			return nil, nil, err
		}
	} else {
		var err error
		if key, err = GenerateKey(spec.KeyAlgorithm); err != nil {
			return nil, nil, err
		}
		pub = key.Public()
	}
	cert, err := ca.Issue(pub, spec.Subject, spec.NotBefore, spec.NotAfter)
	if err != nil {
		return nil, nil, err
	}
	if key != nil {
		if err := e.ImportKey(tokenLabel, userPIN, spec.ID, spec.Label, key); err != nil {
			return nil, nil, err
		}
	}
	if err := e.ImportCertificate(tokenLabel, userPIN, spec.ID, spec.Label, cert.Raw); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}
