package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sort"

	"github.com/miekg/pkcs11"

	"github.com/tokenagent/tokenagent/internal/gost"
)

var (
	// ErrObjectNotFound means no object with the given id is on the token.
	ErrObjectNotFound = errors.New("object not found")
	// ErrKeyNotFound means no private key on the token matches a certificate.
	ErrKeyNotFound = errors.New("no private key on the token matches the certificate")
	// ErrUnsupportedAlgorithm means the key algorithm name is unknown.
	ErrUnsupportedAlgorithm = errors.New("unsupported key algorithm")
)

// KeyAlgorithm names a key type and size, as the protocol spells them.
type KeyAlgorithm string

// The key algorithms the agent generates.
const (
	RSA2048 KeyAlgorithm = "RSA-2048"
	RSA3072 KeyAlgorithm = "RSA-3072"
	RSA4096 KeyAlgorithm = "RSA-4096"
	ECP256  KeyAlgorithm = "EC-P256"
	ECP384  KeyAlgorithm = "EC-P384"
)

// KeyAlgorithms are the key algorithms GenerateKeyPair makes (the GOST ones,
// gost.go, on tokens that offer them).
var KeyAlgorithms = []KeyAlgorithm{RSA2048, RSA3072, RSA4096, ECP256, ECP384, GOST256, GOST512}

var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
)

// curves maps EC parameters (a named curve OID) to Go curves.
var curves = []struct {
	oid   asn1.ObjectIdentifier
	curve elliptic.Curve
}{{oidP256, elliptic.P256()}, {oidP384, elliptic.P384()}, {oidP521, elliptic.P521()}}

// AlgorithmOf returns the KeyAlgorithm of a public key, or "" when the
// agent cannot generate keys of its kind.
func AlgorithmOf(pub crypto.PublicKey) KeyAlgorithm {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return RSA2048
		case 3072:
			return RSA3072
		case 4096:
			return RSA4096
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ECP256
		case elliptic.P384():
			return ECP384
		}
	case *gost.PublicKey:
		return gostKeyAlgorithm(k)
	}
	return ""
}

// PrivateKey is a private key object on a token.
type PrivateKey struct {
	ID     string // object id, see the package doc
	CKAID  []byte
	Label  string
	Public crypto.PublicKey // nil when neither the key nor a public key object tells
	handle pkcs11.ObjectHandle
	// alwaysAuth is CKA_ALWAYS_AUTHENTICATE: each use of the key needs a
	// login of its own (CKU_CONTEXT_SPECIFIC).
	alwaysAuth bool
}

// PrivateKeys lists the private keys on the token with their public keys.
func (s *Session) PrivateKeys() ([]PrivateKey, error) {
	return s.privateKeys(nil)
}

// privateKeys lists the private keys, only those with CKA_ID ckaID unless it
// is nil (ids are assigned within each CKA_ID, as for certificates).
func (s *Session) privateKeys(ckaID []byte) ([]PrivateKey, error) {
	template := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}
	if ckaID != nil {
		template = append(template, pkcs11.NewAttribute(pkcs11.CKA_ID, ckaID))
	}
	handles, err := s.find(template)
	if err != nil {
		return nil, fmt.Errorf("listing private keys: %w", err)
	}
	publics, err := s.publicKeys(ckaID)
	if err != nil {
		return nil, err
	}
	keys := make([]PrivateKey, 0, len(handles))
	for _, h := range handles {
		v, err := s.attributes(h, pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_ALWAYS_AUTHENTICATE)
		if err != nil {
			return nil, fmt.Errorf("reading private key: %w", err)
		}
		k := PrivateKey{CKAID: v[0], Label: padded(string(v[1])), handle: h, alwaysAuth: isTrue(v[2])}
		// The public key object with the same CKA_ID tells the public
		// half. When there is none, or several, an RSA private key still
		// carries it (an EC one does not).
		if pubs := publics[string(k.CKAID)]; len(pubs) == 1 {
			k.Public = pubs[0]
		} else if pub, err := s.rsaPublicKey(h); err == nil {
			k.Public = pub
		}
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys, nil
}

// PrivateKey returns the private key with object id id.
func (s *Session) PrivateKey(id string) (PrivateKey, error) {
	keys, err := s.privateKeys(ckaIDOf(id))
	if err != nil {
		return PrivateKey{}, err
	}
	for _, k := range keys {
		if k.ID == id {
			return k, nil
		}
	}
	return PrivateKey{}, fmt.Errorf("key %s: %w", id, ErrObjectNotFound)
}

// publicKeys reads the public key objects, only those with CKA_ID ckaID
// unless it is nil, by CKA_ID.
func (s *Session) publicKeys(ckaID []byte) (map[string][]crypto.PublicKey, error) {
	template := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY)}
	if ckaID != nil {
		template = append(template, pkcs11.NewAttribute(pkcs11.CKA_ID, ckaID))
	}
	handles, err := s.find(template)
	if err != nil {
		return nil, fmt.Errorf("listing public keys: %w", err)
	}
	out := map[string][]crypto.PublicKey{}
	for _, h := range handles {
		id, err := s.optionalAttribute(h, pkcs11.CKA_ID)
		if err != nil {
			return nil, err
		}
		pub, err := s.publicKey(h)
		if err != nil {
			continue // a key type the agent does not use
		}
		out[string(id)] = append(out[string(id)], pub)
	}
	return out, nil
}

// publicKey reads the RSA, EC or GOST public key of a public key object.
func (s *Session) publicKey(h pkcs11.ObjectHandle) (crypto.PublicKey, error) {
	if pub, err := s.rsaPublicKey(h); err == nil {
		return pub, nil
	}
	params, err := s.attribute(h, pkcs11.CKA_EC_PARAMS)
	if err != nil {
		return s.gostPublicKey(h)
	}
	point, err := s.attribute(h, pkcs11.CKA_EC_POINT)
	if err != nil {
		return nil, err
	}
	return ecPublicKey(params, point)
}

// rsaPublicKey reads the modulus and exponent of an RSA key object.
func (s *Session) rsaPublicKey(h pkcs11.ObjectHandle) (*rsa.PublicKey, error) {
	n, err := s.attribute(h, pkcs11.CKA_MODULUS)
	if err != nil {
		return nil, err
	}
	e, err := s.attribute(h, pkcs11.CKA_PUBLIC_EXPONENT)
	if err != nil {
		return nil, err
	}
	exp := new(big.Int).SetBytes(e)
	if len(n) == 0 || !exp.IsInt64() || exp.Int64() > 1<<31 {
		return nil, errors.New("malformed RSA public key")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
}

// ecPublicKey decodes CKA_EC_PARAMS (a named curve) and CKA_EC_POINT, which
// PKCS#11 wraps in a DER OCTET STRING (some modules leave it bare).
func ecPublicKey(params, point []byte) (*ecdsa.PublicKey, error) {
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(params, &oid); err != nil {
		return nil, fmt.Errorf("decoding EC parameters: %w", err)
	}
	var curve elliptic.Curve
	for _, c := range curves {
		if c.oid.Equal(oid) {
			curve = c.curve
		}
	}
	if curve == nil {
		return nil, fmt.Errorf("unsupported curve %v", oid)
	}
	var raw []byte
	if rest, err := asn1.Unmarshal(point, &raw); err != nil || len(rest) != 0 {
		raw = point
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
	if err != nil {
		return nil, fmt.Errorf("decoding EC point: %w", err)
	}
	return pub, nil
}

// Matches reports whether pub is the public half of k.
func (k PrivateKey) Matches(pub crypto.PublicKey) bool {
	return samePublicKey(k.Public, pub)
}

// KeyFor returns the private key whose public half is pub.
func (s *Session) KeyFor(pub crypto.PublicKey) (PrivateKey, error) {
	return s.keyFor(pub, nil)
}

// KeyForCertificate returns the private key of certificate c. By convention,
// kept by ImportCertificate, a certificate shares its key's CKA_ID, so a
// private key alone with that CKA_ID is taken as c's without reading its
// attributes: each read costs a call to the token. Whether it needs a login
// for each use is read once, and remembered by CKA_ID until this process
// changes the token's objects. Otherwise the key whose public half c
// carries is looked for. The key's Label is not read.
func (s *Session) KeyForCertificate(c Certificate) (PrivateKey, error) {
	if c.ckaID != nil {
		handles, err := s.find([]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_ID, c.ckaID),
		})
		if err != nil {
			return PrivateKey{}, fmt.Errorf("finding the certificate's key: %w", err)
		}
		if len(handles) == 1 {
			k := PrivateKey{ID: hex.EncodeToString(c.ckaID), CKAID: c.ckaID, Public: c.Cert.PublicKey, handle: handles[0]}
			auth, known := s.state.keyAuth[string(c.ckaID)]
			if !known {
				v, err := s.optionalAttribute(k.handle, pkcs11.CKA_ALWAYS_AUTHENTICATE)
				if err != nil {
					return PrivateKey{}, fmt.Errorf("reading the certificate's key: %w", err)
				}
				auth = isTrue(v)
				if s.state.keyAuth == nil {
					s.state.keyAuth = map[string]bool{}
				}
				s.state.keyAuth[string(c.ckaID)] = auth
			}
			k.alwaysAuth = auth
			return k, nil
		}
	}
	return s.KeyFor(c.Cert.PublicKey)
}

// isTrue reads a CK_BBOOL attribute; an absent one is false.
func isTrue(v []byte) bool { return len(v) == 1 && v[0] != 0 }

// keyFor returns the private key whose public half is pub, among those with
// CKA_ID ckaID unless it is nil.
func (s *Session) keyFor(pub crypto.PublicKey, ckaID []byte) (PrivateKey, error) {
	keys, err := s.privateKeys(ckaID)
	if err != nil {
		return PrivateKey{}, err
	}
	for _, k := range keys {
		if k.Matches(pub) {
			return k, nil
		}
	}
	return PrivateKey{}, ErrKeyNotFound
}

// samePublicKey reports whether two public keys are equal.
func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && k.Equal(b)
}

// ImportCertificate stores cert with the CKA_ID of the private key whose
// public key it carries and returns the new object's id. When the token
// already holds the identical certificate, it stores nothing and returns
// that one's id.
func (s *Session) ImportCertificate(cert *x509.Certificate, label string) (string, error) {
	if err := s.writable(); err != nil {
		return "", err
	}
	cert = gost.WithPublicKey(cert)
	certs, err := s.Certificates()
	if err != nil {
		return "", err
	}
	for _, c := range certs {
		if bytes.Equal(c.Cert.Raw, cert.Raw) {
			return c.ID, nil
		}
	}
	key, err := s.KeyFor(cert.PublicKey)
	if err != nil {
		return "", err
	}
	if label == "" {
		label = cert.Subject.CommonName
	}
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return "", fmt.Errorf("encoding serial number: %w", err)
	}
	s.forget()
	h, err := s.p11.CreateObject(s.sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, key.CKAID),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
		pkcs11.NewAttribute(pkcs11.CKA_ISSUER, cert.RawIssuer),
		pkcs11.NewAttribute(pkcs11.CKA_SERIAL_NUMBER, serial),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, cert.Raw),
	})
	if err != nil {
		return "", fmt.Errorf("storing certificate: %w", mapError("C_CreateObject", err))
	}
	if certs, err = s.Certificates(); err != nil {
		return "", err
	}
	for _, c := range certs {
		if c.handle == h {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("stored certificate not found: %w", ErrObjectNotFound)
}

// DeleteCertificate deletes a certificate listed by Certificates in this
// session. It goes by the object itself, not its id: ids of certificates
// sharing a CKA_ID shift as others come and go.
func (s *Session) DeleteCertificate(c Certificate) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.destroy(c.handle)
}

// DeleteKey deletes the private key with object id id and the public key
// objects that belong to it. It returns how many objects it deleted.
func (s *Session) DeleteKey(id string) (int, error) {
	if err := s.writable(); err != nil {
		return 0, err
	}
	key, err := s.PrivateKey(id)
	if err != nil {
		return 0, err
	}
	handles, err := s.find([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, key.CKAID),
	})
	if err != nil {
		return 0, err
	}
	// The private key goes first: a public key left behind harms nobody,
	// a private key left without its public half is still usable.
	if err := s.destroy(key.handle); err != nil {
		return 0, err
	}
	deleted := 1
	for _, h := range handles {
		// Another key pair may share the CKA_ID: keep its public half.
		if pub, err := s.publicKey(h); err == nil && key.Public != nil && !samePublicKey(key.Public, pub) {
			continue
		}
		if err := s.destroy(h); err != nil {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}

// destroy deletes a token object, and what is remembered of the token's
// objects with it.
func (s *Session) destroy(h pkcs11.ObjectHandle) error {
	s.forget()
	if err := s.p11.DestroyObject(s.sh, h); err != nil {
		return fmt.Errorf("deleting object: %w", mapError("C_DestroyObject", err))
	}
	return nil
}

// writable refuses a change to a write-protected token before the token
// is asked.
func (s *Session) writable() error {
	if s.info.ReadOnly {
		return fmt.Errorf("token %s: %w", s.info.ID, ErrReadOnly)
	}
	return nil
}

// KeyListing is a token's key pairs as a session without a login sees
// them (Manager.Keys), with the certificates that may be bound to them.
type KeyListing struct {
	// Keys are the visible private keys and, for the CKA_IDs of public
	// key objects with no visible private key, entries made from those
	// public key objects (their handles name the public key object).
	Keys         []PrivateKey
	Certificates []Certificate
	// Complete: the token needs no login, so no private key is hidden.
	Complete bool
}

// Keys lists the key pairs token id shows without a login: most tokens
// hide private keys (CKA_PRIVATE) until one, and then the public key
// object stands for its pair.
func (m *Manager) Keys(ctx context.Context, id string) (KeyListing, error) {
	var out KeyListing
	err := m.withToken(ctx, id, func(t *heldToken) error {
		return t.withSession(Credentials{}, func(s *Session) error {
			keys, err := s.PrivateKeys()
			if err != nil {
				return err
			}
			publics, err := s.publicKeyObjects()
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for _, k := range keys {
				seen[string(k.CKAID)] = true
			}
			for _, k := range publics {
				if !seen[string(k.CKAID)] {
					keys = append(keys, k)
				}
			}
			certs, err := s.certificates(true, nil)
			if err != nil {
				return err
			}
			out = KeyListing{Keys: keys, Certificates: certs, Complete: !s.info.PIN.LoginRequired}
			return nil
		})
	})
	if err != nil {
		return KeyListing{}, fmt.Errorf("listing keys: %w", err)
	}
	return out, nil
}

// publicKeyObjects lists the public key objects of the key types the agent
// uses as PrivateKey entries, with ids assigned within each CKA_ID as for
// private keys: the id of a public key object is that of its private key.
func (s *Session) publicKeyObjects() ([]PrivateKey, error) {
	handles, err := s.find([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY)})
	if err != nil {
		return nil, fmt.Errorf("listing public keys: %w", err)
	}
	keys := make([]PrivateKey, 0, len(handles))
	for _, h := range handles {
		v, err := s.attributes(h, pkcs11.CKA_ID, pkcs11.CKA_LABEL)
		if err != nil {
			return nil, fmt.Errorf("reading public key: %w", err)
		}
		pub, err := s.publicKey(h)
		if err != nil {
			continue // a key type the agent does not use
		}
		keys = append(keys, PrivateKey{CKAID: v[0], Label: padded(string(v[1])), Public: pub, handle: h})
	}
	sortKeys(keys)
	return keys, nil
}

// sortKeys orders keys by CKA_ID and label, the stable order ids are
// assigned in (objectIDs), and assigns them.
func sortKeys(keys []PrivateKey) {
	sort.SliceStable(keys, func(i, j int) bool {
		if c := bytes.Compare(keys[i].CKAID, keys[j].CKAID); c != 0 {
			return c < 0
		}
		return keys[i].Label < keys[j].Label
	})
	ckaIDs := make([][]byte, len(keys))
	for i, k := range keys {
		ckaIDs[i] = k.CKAID
	}
	for i, id := range objectIDs(ckaIDs) {
		keys[i].ID = id
	}
}

// BoundTo reports whether certificate c belongs to k: it carries k's
// public key or, when the token tells none for k, shares its CKA_ID (the
// PKCS#11 convention).
func (k PrivateKey) BoundTo(c Certificate) bool {
	if k.Public != nil {
		return k.Matches(c.Cert.PublicKey)
	}
	return bytes.Equal(k.CKAID, c.ckaID)
}
