// Package gost holds what the agent knows of GOST R 34.10-2012 keys apart
// from any token: the two key sizes with their object identifiers, the
// parameter sets by name, public keys and their SubjectPublicKeyInfo
// encoding (RFC 9215, R 1323565.1.023-2018). crypto/x509 knows none of it:
// it parses a certificate with a GOST key but leaves PublicKey nil, which
// WithPublicKey fills in.
//
// Byte orders, which the standards fix and every tool follows: a public
// key's point is X‖Y with each coordinate little-endian, as PKCS#11's
// CKA_VALUE and the SubjectPublicKeyInfo's OCTET STRING hold it; a signature
// is s‖r with each half big-endian, as PKCS#11's CKM_GOSTR3410 returns it
// and X.509 and CMS carry it; a Streebog digest is in the byte order of
// package streebog.
//
// Everything here is immutable data or pure functions, safe for concurrent
// use.
package gost

import (
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tokenagent/tokenagent/internal/streebog"
)

// ErrNotGOST means a key or certificate is not a GOST R 34.10-2012 one.
var ErrNotGOST = errors.New("not a GOST R 34.10-2012 key")

// Variant is one of the two key sizes of GOST R 34.10-2012, with the
// Streebog digest of the same size that it signs and their identifiers.
type Variant struct {
	Bits         int                   // 256 or 512
	KeyOID       asn1.ObjectIdentifier // id-tc26-gost3410-12-256 / -512
	DigestOID    asn1.ObjectIdentifier // id-tc26-gost3411-12-256 / -512
	SignatureOID asn1.ObjectIdentifier // id-tc26-signwithdigest-gost3410-12-256 / -512
}

// The two variants.
var (
	V256 = Variant{
		Bits:         256,
		KeyOID:       asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 1, 1},
		DigestOID:    asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 2, 2},
		SignatureOID: asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 3, 2},
	}
	V512 = Variant{
		Bits:         512,
		KeyOID:       asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 1, 2},
		DigestOID:    asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 2, 3},
		SignatureOID: asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 3, 3},
	}
)

// VariantOf returns the variant with bits-bit keys.
func VariantOf(bits int) (Variant, bool) {
	switch bits {
	case 256:
		return V256, true
	case 512:
		return V512, true
	}
	return Variant{}, false
}

// DigestSize is the length of the variant's digest in bytes; a signature is
// twice as long, and so is a public key's point.
func (v Variant) DigestSize() int { return v.Bits / 8 }

// NewHash returns the variant's Streebog hash.
func (v Variant) NewHash() hash.Hash {
	if v.Bits == 512 {
		return streebog.New512()
	}
	return streebog.New256()
}

// ParamSet is a named set of curve parameters for GOST R 34.10 keys.
type ParamSet struct {
	Name string // as the protocol spells it; "" for one this package does not know
	OID  asn1.ObjectIdentifier
	Bits int
	// bare is set for the sets of R 1323565.1.024-2019, whose keys'
	// SubjectPublicKeyInfo parameters leave out the digest's parameter set.
	bare bool
}

// String is the name, or the dotted OID of a set without one.
func (p ParamSet) String() string {
	if p.Name != "" {
		return p.Name
	}
	return p.OID.String()
}

// ParamSets are the parameter sets of RFC 7836 §B (TC26) and RFC 4357
// §10 (CryptoPro) by name. TC26-256-B, -C and -D are CryptoPro-A, -B and -C's
// curves under TC26 identifiers.
var ParamSets = []ParamSet{
	{"TC26-256-A", asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 1, 1, 1}, 256, true},
	{"TC26-256-B", asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 1, 1, 2}, 256, true},
	{"TC26-256-C", asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 1, 1, 3}, 256, true},
	{"TC26-256-D", asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 1, 1, 4}, 256, true},
	{"CryptoPro-A", asn1.ObjectIdentifier{1, 2, 643, 2, 2, 35, 1}, 256, false},
	{"CryptoPro-B", asn1.ObjectIdentifier{1, 2, 643, 2, 2, 35, 2}, 256, false},
	{"CryptoPro-C", asn1.ObjectIdentifier{1, 2, 643, 2, 2, 35, 3}, 256, false},
	{"CryptoPro-XchA", asn1.ObjectIdentifier{1, 2, 643, 2, 2, 36, 0}, 256, false},
	{"CryptoPro-XchB", asn1.ObjectIdentifier{1, 2, 643, 2, 2, 36, 1}, 256, false},
	{"TC26-512-A", asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 1, 2, 1}, 512, false},
	{"TC26-512-B", asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 1, 2, 2}, 512, false},
	{"TC26-512-C", asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 1, 2, 3}, 512, true},
}

// generationOrder is the order in which key generation offers parameter
// sets to a token that was not told one: the TC26 sets first, then
// CryptoPro-A, which older modules (SoftHSM among them) take alone.
var generationOrder = map[int][]string{
	256: {"TC26-256-A", "TC26-256-B", "TC26-256-C", "TC26-256-D", "CryptoPro-A"},
	512: {"TC26-512-A", "TC26-512-B", "TC26-512-C"},
}

// GenerationOrder returns the parameter sets to try for a new bits-bit key,
// most preferred first.
func GenerationOrder(bits int) []ParamSet {
	var out []ParamSet
	for _, name := range generationOrder[bits] {
		p, _ := ParamSetByName(name)
		out = append(out, p)
	}
	return out
}

// ParamSetByName returns the parameter set called name.
func ParamSetByName(name string) (ParamSet, bool) {
	for _, p := range ParamSets {
		if p.Name == name {
			return p, true
		}
	}
	return ParamSet{}, false
}

// paramSetOf returns the parameter set with oid, named when it is known.
func paramSetOf(oid asn1.ObjectIdentifier, bits int) ParamSet {
	for _, p := range ParamSets {
		if p.OID.Equal(oid) {
			return p
		}
	}
	return ParamSet{OID: oid, Bits: bits}
}

// PublicKey is a GOST R 34.10-2012 public key.
type PublicKey struct {
	Variant  Variant
	ParamSet ParamSet
	// Point is X‖Y, each coordinate little-endian: 64 bytes for a 256-bit
	// key, 128 for a 512-bit one.
	Point []byte
}

var _ interface{ Equal(crypto.PublicKey) bool } = (*PublicKey)(nil)

// NewPublicKey checks a point read from a token and makes the key.
func NewPublicKey(v Variant, paramSet asn1.ObjectIdentifier, point []byte) (*PublicKey, error) {
	if len(point) != 2*v.DigestSize() {
		return nil, fmt.Errorf("GOST R 34.10-2012-%d public key of %d bytes, want %d", v.Bits, len(point), 2*v.DigestSize())
	}
	ps := paramSetOf(paramSet, v.Bits)
	if ps.Name != "" && ps.Bits != v.Bits {
		return nil, fmt.Errorf("parameter set %s is for %d-bit keys, not %d", ps, ps.Bits, v.Bits)
	}
	return &PublicKey{Variant: v, ParamSet: ps, Point: append([]byte(nil), point...)}, nil
}

// Equal reports whether x is the same key.
func (k *PublicKey) Equal(x crypto.PublicKey) bool {
	o, ok := x.(*PublicKey)
	return ok && o != nil && k.Variant.Bits == o.Variant.Bits && k.ParamSet.OID.Equal(o.ParamSet.OID) &&
		subtle.ConstantTimeCompare(k.Point, o.Point) == 1
}

// MarshalPKIX returns the key's DER SubjectPublicKeyInfo. The parameters
// name the digest too, except for the parameter sets R 1323565.1.024-2019
// defines (TC26-256-A to -D, TC26-512-C), as OpenSSL writes them. A key of
// an unknown set is written with the digest.
func (k *PublicKey) MarshalPKIX() ([]byte, error) {
	// The BIT STRING holds the DER OCTET STRING of the point.
	var point cryptobyte.Builder
	point.AddASN1OctetString(k.Point)
	pointDER, err := point.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encoding GOST public key: %w", err)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(spki *cryptobyte.Builder) {
		spki.AddASN1(cbasn1.SEQUENCE, func(alg *cryptobyte.Builder) {
			alg.AddASN1ObjectIdentifier(k.Variant.KeyOID)
			alg.AddASN1(cbasn1.SEQUENCE, func(params *cryptobyte.Builder) {
				params.AddASN1ObjectIdentifier(k.ParamSet.OID)
				if !k.ParamSet.bare {
					params.AddASN1ObjectIdentifier(k.Variant.DigestOID)
				}
			})
		})
		spki.AddASN1BitString(pointDER)
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encoding GOST public key: %w", err)
	}
	return der, nil
}

// ParsePKIX decodes a DER SubjectPublicKeyInfo holding a GOST R 34.10-2012
// key; any other key is ErrNotGOST.
func ParsePKIX(der []byte) (*PublicKey, error) {
	var spki, alg, params, bits cryptobyte.String
	var oid, paramOID asn1.ObjectIdentifier
	input := cryptobyte.String(der)
	if !input.ReadASN1(&spki, cbasn1.SEQUENCE) || !input.Empty() ||
		!spki.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return nil, errors.New("malformed SubjectPublicKeyInfo")
	}
	var v Variant
	switch {
	case oid.Equal(V256.KeyOID):
		v = V256
	case oid.Equal(V512.KeyOID):
		v = V512
	default:
		return nil, fmt.Errorf("key algorithm %v: %w", oid, ErrNotGOST)
	}
	var point []byte
	var bitString asn1.BitString
	if !alg.ReadASN1(&params, cbasn1.SEQUENCE) || !params.ReadASN1ObjectIdentifier(&paramOID) ||
		!spki.ReadASN1BitString(&bitString) || !spki.Empty() || bitString.BitLength%8 != 0 {
		return nil, errors.New("malformed GOST SubjectPublicKeyInfo")
	}
	bits = bitString.Bytes
	if !bits.ReadASN1Bytes(&point, cbasn1.OCTET_STRING) || !bits.Empty() {
		return nil, errors.New("malformed GOST public key point")
	}
	return NewPublicKey(v, paramOID, point)
}

// WithPublicKey returns cert with PublicKey set when it carries a GOST
// R 34.10-2012 key that crypto/x509 left unparsed: a shallow copy, so the
// caller's certificate is not changed. Any other certificate comes back as
// it is.
func WithPublicKey(cert *x509.Certificate) *x509.Certificate {
	if cert == nil || cert.PublicKey != nil {
		return cert
	}
	pub, err := ParsePKIX(cert.RawSubjectPublicKeyInfo)
	if err != nil {
		return cert
	}
	c := *cert
	c.PublicKey = pub
	return &c
}
