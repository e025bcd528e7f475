package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// KeyAlgorithm names a key type and size: "RSA-2048", "EC-P256", ….
type KeyAlgorithm = token.KeyAlgorithm

// KeyAlgorithms are the key algorithms keys.generate takes.
var KeyAlgorithms = token.KeyAlgorithms

// KeySpec is a key algorithm with its options (a GOST key's parameter set).
type KeySpec = token.KeySpec

// GeneratedKey is a key pair made on a token.
type GeneratedKey struct {
	ID        string // object id of the private key (the public one shares it)
	PublicKey crypto.PublicKey
}

// PublicKeyDER returns the public key as a DER SubjectPublicKeyInfo.
func (k GeneratedKey) PublicKeyDER() ([]byte, error) { return publicKeyDER(k.PublicKey) }

// GenerateKey makes a key pair on the token.
func (a *Agent) GenerateKey(ctx context.Context, call Call, spec KeySpec, label string) (GeneratedKey, error) {
	var out GeneratedKey
	p := a.attempt(ctx, call)
	p.generates = spec.Algorithm
	p.shown.Key, p.shown.NewKey, p.shown.Label = spec, true, label
	err := p.run(func() error {
		// Refused before the token is asked anything.
		if err := spec.Check(); err != nil {
			return err
		}
		return p.login(func(s *token.Session) error {
			k, err := s.GenerateKeyPair(spec, label)
			if err != nil {
				return err
			}
			out = GeneratedKey{ID: k.ID, PublicKey: k.Public}
			p.rec.Object = k.ID
			return nil
		})
	})
	return out, err
}

// Subject is the subject of a certificate request.
type Subject struct {
	CommonName         string
	Organization       string
	OrganizationalUnit string
	Country            string
	Province           string
	Locality           string
	SerialNumber       string
	Email              string
}

var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

func (s Subject) name() pkix.Name {
	one := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}
	}
	n := pkix.Name{
		CommonName:         s.CommonName,
		Organization:       one(s.Organization),
		OrganizationalUnit: one(s.OrganizationalUnit),
		Country:            one(s.Country),
		Province:           one(s.Province),
		Locality:           one(s.Locality),
		SerialNumber:       s.SerialNumber,
	}
	if s.Email != "" {
		n.ExtraNames = []pkix.AttributeTypeAndValue{{Type: oidEmailAddress, Value: s.Email}}
	}
	return n
}

// CertificateRequest is what a CSR asks for.
type CertificateRequest struct {
	Subject  Subject
	DNSNames []string
	Emails   []string
}

// CreateCSR makes a PKCS#10 request signed on the token with key keyID and
// returns its DER.
func (a *Agent) CreateCSR(ctx context.Context, call Call, keyID string, req CertificateRequest) ([]byte, error) {
	var csr []byte
	p := a.attempt(ctx, call)
	p.rec.Object = keyID
	p.shown.Object, p.shown.Subject = keyID, req.Subject.name().String()
	if req.Subject.CommonName == "" {
		return nil, p.finish(Errorf(InvalidInput, "subject.commonName is required"))
	}
	err := p.run(func() error {
		return p.login(func(s *token.Session) error {
			key, err := s.PrivateKey(keyID)
			if err != nil {
				return err
			}
			tmpl := &x509.CertificateRequest{Subject: req.Subject.name(), DNSNames: req.DNSNames, EmailAddresses: req.Emails}
			csr, err = signCSR(s, key, tmpl)
			return err
		})
	})
	return csr, err
}

// signCSR signs a request for key on the token.
func signCSR(s *token.Session, key token.PrivateKey, tmpl *x509.CertificateRequest) ([]byte, error) {
	k, err := signer.New(s, key)
	if err != nil {
		return nil, err
	}
	if _, ok := key.Public.(*gost.PublicKey); ok {
		return signer.CreateGOSTCertificateRequest(k, tmpl)
	}
	// SHA-256 whatever the key: RSA with PKCS#1 v1.5, or ECDSA.
	switch key.Public.(type) {
	case *ecdsa.PublicKey:
		tmpl.SignatureAlgorithm = x509.ECDSAWithSHA256
	default:
		tmpl.SignatureAlgorithm = x509.SHA256WithRSA
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
	if err != nil {
		return nil, fmt.Errorf("creating the certificate request: %w", err)
	}
	return csr, nil
}

// ImportCertificate stores cert on the token next to its private key and
// returns its id; an identical certificate already there is not stored twice.
func (a *Agent) ImportCertificate(ctx context.Context, call Call, cert *x509.Certificate, label string) (string, error) {
	var id string
	p := a.attempt(ctx, call)
	p.writes = true
	p.rec.CertSHA256 = certHash(cert)
	p.shown.Import, p.shown.Label = cert, label
	err := p.run(func() error {
		return p.login(func(s *token.Session) error {
			var err error
			if id, err = s.ImportCertificate(cert, label); err != nil {
				return err
			}
			p.rec.Object = id
			return a.renewalCertified(s, call.Token, cert)
		})
	})
	return id, err
}

func certHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ObjectKind says what objects.delete deletes.
type ObjectKind string

// The kinds of objects objects.delete deletes.
const (
	DeleteCertificate ObjectKind = "certificate"
	DeleteKey         ObjectKind = "key"
	DeleteBoth        ObjectKind = "both"
)

// DeleteObjects deletes the certificate, the key pair, or both with object
// id id and returns how many objects went.
func (a *Agent) DeleteObjects(ctx context.Context, call Call, id string, what ObjectKind) (int, error) {
	var deleted int
	p := a.attempt(ctx, call)
	p.writes = true
	p.rec.Object = id
	p.shown.Object, p.shown.Delete = id, what
	err := p.run(func() error {
		return p.login(func(s *token.Session) error {
			cert, certErr := s.Certificate(id)
			_, keyErr := s.PrivateKey(id)
			for _, err := range []error{certErr, keyErr} {
				if err != nil && !errors.Is(err, token.ErrObjectNotFound) {
					return err
				}
			}
			switch {
			case what == DeleteCertificate && certErr != nil:
				return certErr
			case what == DeleteKey && keyErr != nil:
				return keyErr
			case what == DeleteBoth && certErr != nil && keyErr != nil:
				return certErr
			}
			if certErr == nil && what != DeleteKey {
				p.rec.CertSHA256 = certHash(cert.Cert)
				if err := s.DeleteCertificate(cert); err != nil {
					return err
				}
				deleted++
			}
			if keyErr == nil && what != DeleteCertificate {
				n, err := s.DeleteKey(id)
				deleted += n
				if err == nil {
					a.renewals.remove(call.Token, id)
				}
				return err
			}
			return nil
		})
	})
	return deleted, err
}

// Renewal is a started renewal: the key to certify and the request.
type Renewal struct {
	KeyID string
	CSR   []byte // DER
}

// PrepareRenewal starts renewing certificate certID: a new key pair of spec
// (the old key's algorithm and GOST parameter set when spec.Algorithm is
// empty), or the certificate's own key when newKey is false, and a request
// with the certificate's subject and names.
func (a *Agent) PrepareRenewal(ctx context.Context, call Call, certID string, newKey bool, spec KeySpec) (Renewal, error) {
	var out Renewal
	p := a.attempt(ctx, call)
	if newKey {
		p.writes, p.generates = true, spec.Algorithm // "" when the old key's: known only inside
	}
	p.rec.Object = certID
	p.shown.Object, p.shown.Key, p.shown.NewKey = certID, spec, newKey
	p.certRequired = true
	err := p.run(func() error {
		if spec != (KeySpec{}) {
			// Refused before the token is asked anything.
			if err := spec.Check(); err != nil {
				return err
			}
		}
		return p.login(func(s *token.Session) error {
			old, err := s.Certificate(certID)
			if err != nil {
				return err
			}
			p.rec.CertSHA256 = certHash(old.Cert)
			tmpl := &x509.CertificateRequest{
				RawSubject:     old.Cert.RawSubject,
				DNSNames:       old.Cert.DNSNames,
				EmailAddresses: old.Cert.EmailAddresses,
			}
			if !newKey {
				key, err := s.KeyFor(old.Cert.PublicKey)
				if err != nil {
					return err
				}
				out.KeyID = key.ID
				out.CSR, err = signCSR(s, key, tmpl)
				return err
			}
			if spec.Algorithm == "" {
				if spec = token.SpecOf(old.Cert.PublicKey); spec.Algorithm == "" {
					return Errorf(InvalidInput, "the certificate's key type cannot be generated; name an algorithm")
				}
			}
			key, err := s.GenerateKeyPair(spec, old.Label)
			if err != nil {
				return err
			}
			if out.CSR, err = signCSR(s, key, tmpl); err != nil {
				// Leave the token as it was: a key without a request is
				// of no use to anyone.
				if _, delErr := s.DeleteKey(key.ID); delErr != nil {
					return errors.Join(err, fmt.Errorf("removing the new key: %w", delErr))
				}
				return err
			}
			out.KeyID = key.ID
			return nil
		})
	})
	if err == nil {
		a.renewals.add(PendingRenewal{Token: call.Token, Key: out.KeyID, Cert: certID, CSR: out.CSR, CreatedAt: a.opts.Now().UTC().Truncate(time.Second)})
	}
	return out, err
}

// CompleteRenewal imports the issued certificate and, with removeOld, then
// deletes the certificate it replaces and that one's key when no other
// certificate uses it. A failed import deletes nothing.
func (a *Agent) CompleteRenewal(ctx context.Context, call Call, cert *x509.Certificate, replaces string, removeOld bool) (string, error) {
	var id string
	p := a.attempt(ctx, call)
	p.writes = true
	p.rec.CertSHA256 = certHash(cert)
	p.shown.Import, p.shown.Object = cert, replaces
	if removeOld && replaces != "" {
		p.shown.Delete = DeleteCertificate
	}
	err := p.run(func() error {
		return p.login(func(s *token.Session) error {
			var old *token.Certificate
			if replaces != "" {
				c, err := s.Certificate(replaces)
				if err != nil {
					return err
				}
				old = &c
			}
			var err error
			if id, err = s.ImportCertificate(cert, ""); err != nil {
				return err
			}
			p.rec.Object = id
			if err := a.renewalCertified(s, call.Token, cert); err != nil {
				return err
			}
			if old == nil || !removeOld || bytes.Equal(old.Cert.Raw, cert.Raw) {
				return nil
			}
			if err := removeReplaced(s, old); err != nil {
				return err
			}
			// The new certificate's id may have shifted: with the old
			// one gone it may no longer need a "~N".
			certs, err := s.Certificates()
			if err != nil {
				return err
			}
			for _, c := range certs {
				if bytes.Equal(c.Cert.Raw, cert.Raw) {
					id = c.ID
				}
			}
			p.rec.Object = id
			return nil
		})
	})
	return id, err
}

// renewalCertified drops the pending renewal of the key that cert, just
// stored on the token, certifies.
func (a *Agent) renewalCertified(s *token.Session, tokenID string, cert *x509.Certificate) error {
	key, err := s.KeyFor(gost.WithPublicKey(cert).PublicKey)
	if errors.Is(err, token.ErrKeyNotFound) {
		return nil // stored before, by someone else, without its key
	}
	if err != nil {
		return err
	}
	a.renewals.remove(tokenID, key.ID)
	return nil
}

// removeReplaced deletes a replaced certificate, and its key unless another
// certificate still uses that key.
func removeReplaced(s *token.Session, old *token.Certificate) error {
	if err := s.DeleteCertificate(*old); err != nil {
		return err
	}
	key, err := s.KeyFor(old.Cert.PublicKey)
	if errors.Is(err, token.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	certs, err := s.Certificates()
	if err != nil {
		return err
	}
	for _, c := range certs {
		if key.Matches(c.Cert.PublicKey) {
			return nil
		}
	}
	_, err = s.DeleteKey(key.ID)
	return err
}

// ChangePIN changes the user PIN from call.PIN to newPIN (with a
// Consent, both are the person's answer and newPIN is nil).
func (a *Agent) ChangePIN(ctx context.Context, call Call, newPIN []byte) error {
	p := a.attempt(ctx, call, newPIN)
	p.shown.NewPIN = true
	return p.run(func() error {
		return a.hw.ChangePIN(ctx, p.call.Token, p.call.PIN, p.newPIN, p.call.finalTryConfirmed())
	})
}

// UnlockPIN sets a new user PIN after logging in with the SO PIN in
// call.PIN, unblocking a locked one. The SO PIN has its own throttle.
func (a *Agent) UnlockPIN(ctx context.Context, call Call, newPIN []byte) error {
	p := a.attempt(ctx, call, newPIN)
	p.kind = soPIN
	p.shown.SOPIN, p.shown.NewPIN = true, true
	return p.run(func() error {
		return a.hw.UnlockPIN(ctx, p.call.Token, p.call.PIN, p.newPIN, p.call.finalTryConfirmed())
	})
}
