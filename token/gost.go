package token

// GOST R 34.10-2012 keys: generation, public keys, and the mechanisms that
// sign and hash with them.
//
// PKCS#11 v2.40 has the key type, key-pair generation and digest signing
// for 256-bit keys (CKK_GOSTR3410, CKM_GOSTR3410_KEY_PAIR_GEN,
// CKM_GOSTR3410); 512-bit keys and Streebog on the token (hash-and-sign, or
// C_Digest alone) come from the TC26 vendor extensions, as p11-kit's
// pkcs11x.h lists them. Its CKM_GOSTR3410_WITH_GOSTR3411 hashes with the old
// GOST R 34.11-94 and is never used.

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/tokenagent/tokenagent/internal/gost"
)

// The GOST key algorithms.
const (
	GOST256 KeyAlgorithm = "GOST-2012-256"
	GOST512 KeyAlgorithm = "GOST-2012-512"
)

// tc26Vendor is the TC26 vendor base (pkcs11x.h: NSSCK_VENDOR_PKCS11_RU_TEAM,
// 0x80000000 | 0x54321000).
const tc26Vendor = 0xD4321000

// gostIDs are the PKCS#11 identifiers for one size of GOST key.
type gostIDs struct {
	keyType    uint // CKA_KEY_TYPE of its keys
	keyPairGen uint
	sign       uint // signs a digest made elsewhere
	signData   uint // hashes with Streebog, then signs
	digest     uint // Streebog alone, for C_Digest
}

// gostMechanisms is the table of GOST identifiers by key size.
var gostMechanisms = map[int]gostIDs{
	256: {
		keyType:    pkcs11.CKK_GOSTR3410,
		keyPairGen: pkcs11.CKM_GOSTR3410_KEY_PAIR_GEN,
		sign:       pkcs11.CKM_GOSTR3410,
		signData:   tc26Vendor | 0x008, // CKM_GOSTR3410_WITH_GOSTR3411_2012_256
		digest:     tc26Vendor | 0x012, // CKM_GOSTR3411_2012_256
	},
	512: {
		keyType:    tc26Vendor | 0x003, // CKK_GOSTR3410_512
		keyPairGen: tc26Vendor | 0x005, // CKM_GOSTR3410_512_KEY_PAIR_GEN
		sign:       tc26Vendor | 0x006, // CKM_GOSTR3410_512
		signData:   tc26Vendor | 0x009, // CKM_GOSTR3410_WITH_GOSTR3411_2012_512
		digest:     tc26Vendor | 0x013, // CKM_GOSTR3411_2012_512
	},
}

// gostBits are the key sizes of the GOST key algorithms.
var gostBits = map[KeyAlgorithm]int{GOST256: 256, GOST512: 512}

// gostKeyAlgorithm is AlgorithmOf for a GOST key.
func gostKeyAlgorithm(k *gost.PublicKey) KeyAlgorithm {
	for alg, bits := range gostBits {
		if bits == k.Variant.Bits {
			return alg
		}
	}
	return ""
}

// GOSTOffer says which GOST mechanisms a token offers for one key size.
type GOSTOffer struct {
	KeyPairGen bool
	Sign       bool // a digest made elsewhere
	SignData   bool // Streebog and the signature in one mechanism
	Digest     bool // Streebog alone (C_Digest)
}

// GOSTOffer reads which GOST mechanisms the token offers for bits-bit keys.
func (s *Session) GOSTOffer(bits int) (GOSTOffer, error) {
	return s.s.gostOffer(bits)
}

func (s *session) gostOffer(bits int) (GOSTOffer, error) {
	ids, ok := gostMechanisms[bits]
	if !ok {
		return GOSTOffer{}, fmt.Errorf("%w: GOST key of %d bits", ErrUnsupportedAlgorithm, bits)
	}
	types, err := s.mod.mechanisms(s.c, s.info)
	if err != nil {
		return GOSTOffer{}, err
	}
	return GOSTOffer{
		KeyPairGen: types[ids.keyPairGen],
		Sign:       types[ids.sign],
		SignData:   types[ids.signData],
		Digest:     types[ids.digest],
	}, nil
}

// checkGOSTParamSet is KeySpec.Check for a spec naming a parameter set: a
// known one, of the GOST algorithm's size.
func checkGOSTParamSet(spec KeySpec) error {
	bits, ok := gostBits[spec.Algorithm]
	if !ok {
		return fmt.Errorf("%w: a parameter set needs a GOST algorithm, not %q", ErrUnsupportedAlgorithm, spec.Algorithm)
	}
	if p, ok := gost.ParamSetByName(spec.ParamSet); ok && p.Bits == bits {
		return nil
	}
	var names []string
	for _, p := range gost.ParamSets {
		if p.Bits == bits {
			names = append(names, p.Name)
		}
	}
	return fmt.Errorf("%w: parameter set %q for %s (want one of %s)", ErrUnsupportedAlgorithm,
		spec.ParamSet, spec.Algorithm, strings.Join(names, ", "))
}

// paramSetRefusals are the codes with which modules refuse a parameter set
// they do not take: the ones PKCS#11 means for it, and SoftHSM's
// CKR_GENERAL_ERROR.
var paramSetRefusals = map[pkcs11.Error]bool{
	pkcs11.CKR_DOMAIN_PARAMS_INVALID:   true,
	pkcs11.CKR_CURVE_NOT_SUPPORTED:     true,
	pkcs11.CKR_ATTRIBUTE_VALUE_INVALID: true,
	pkcs11.CKR_TEMPLATE_INCONSISTENT:   true,
	pkcs11.CKR_GENERAL_ERROR:           true,
	pkcs11.CKR_FUNCTION_FAILED:         true,
}

// generateGOST makes a GOST key pair from the common templates. Without a
// parameter set named in spec, it offers the token the sets of
// gost.GenerationOrder one after the other until one is taken.
func (s *session) generateGOST(spec KeySpec, public, private []*pkcs11.Attribute) (pubH, privH pkcs11.ObjectHandle, err error) {
	bits := gostBits[spec.Algorithm]
	v, _ := gost.VariantOf(bits)
	offer, err := s.gostOffer(bits)
	if err != nil {
		return 0, 0, err
	}
	if !offer.KeyPairGen {
		return 0, 0, fmt.Errorf("no %s key-pair generation: %w", spec.Algorithm, ErrMechanismUnsupported)
	}
	sets := gost.GenerationOrder(bits)
	if p, ok := gost.ParamSetByName(spec.ParamSet); ok { // spec.Check made sure it fits
		sets = []gost.ParamSet{p}
	}
	digestParams, err := asn1.Marshal(v.DigestOID)
	if err != nil {
		return 0, 0, fmt.Errorf("encoding digest parameters: %w", err)
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(gostMechanisms[bits].keyPairGen, nil)}
	var refused []string
	for _, p := range sets {
		params, err := asn1.Marshal(p.OID)
		if err != nil {
			return 0, 0, fmt.Errorf("encoding parameter set: %w", err)
		}
		// The parameters go in the public template only: PKCS#11 has
		// the private key take them from it (footnote 4 of its GOST
		// private key table), and SoftHSM refuses them there.
		pub := append(public[:len(public):len(public)],
			pkcs11.NewAttribute(pkcs11.CKA_GOSTR3410_PARAMS, params),
			pkcs11.NewAttribute(pkcs11.CKA_GOSTR3411_PARAMS, digestParams))
		pubH, privH, err = s.c.GenerateKeyPair(s.sh, mech, pub, private)
		var code pkcs11.Error
		if err == nil || !errors.As(err, &code) || !paramSetRefusals[code] {
			return pubH, privH, err
		}
		refused = append(refused, fmt.Sprintf("%s (%s)", p, CodeName(code)))
	}
	return 0, 0, fmt.Errorf("the token refused parameter sets %v: %w", refused, ErrMechanismUnsupported)
}

// gostPublicKey reads a GOST public key object: the parameter set and the
// point, whose length tells the key's size.
func (s *session) gostPublicKey(h pkcs11.ObjectHandle) (*gost.PublicKey, error) {
	params, err := s.attribute(h, pkcs11.CKA_GOSTR3410_PARAMS)
	if err != nil {
		return nil, err
	}
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err != nil || len(rest) != 0 {
		return nil, errors.New("malformed GOST parameter set")
	}
	point, err := s.attribute(h, pkcs11.CKA_VALUE)
	if err != nil {
		return nil, err
	}
	v, ok := gost.VariantOf(len(point) * 4)
	if !ok {
		return nil, fmt.Errorf("GOST public key of %d bytes", len(point))
	}
	return gost.NewPublicKey(v, oid, point)
}

// GOSTMechanism says how to make a GOST R 34.10-2012 signature with a key
// of Bits bits: over the data, hashed on the token (HashOnToken), or over a
// Streebog digest of the key's size.
type GOSTMechanism struct {
	Bits        int
	HashOnToken bool
}

// SignGOST signs input with a GOST key. The signature is s‖r, each half
// big-endian, as X.509 and CMS carry it.
func (s *Session) SignGOST(key PrivateKey, m GOSTMechanism, input []byte) ([]byte, error) {
	pub, ok := key.Public.(*gost.PublicKey)
	ids, known := gostMechanisms[m.Bits]
	if !ok || !known || pub.Variant.Bits != m.Bits {
		return nil, fmt.Errorf("signing: key %s: %w", key.ID, ErrMechanismUnsupported)
	}
	typ := ids.sign
	if m.HashOnToken {
		typ = ids.signData
	} else if len(input) != pub.Variant.DigestSize() {
		return nil, fmt.Errorf("digest is %d bytes, GOST-2012-%d needs %d", len(input), m.Bits, pub.Variant.DigestSize())
	}
	if err := s.s.c.SignInit(s.s.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(typ, nil)}, key.handle); err != nil {
		return nil, fmt.Errorf("signing: %w", mapMechanismError("C_SignInit", err))
	}
	sig, err := s.s.c.Sign(s.s.sh, input)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", mapMechanismError("C_Sign", err))
	}
	if len(sig) != 2*pub.Variant.DigestSize() {
		return nil, fmt.Errorf("signing: the token returned a GOST signature of %d bytes", len(sig))
	}
	return sig, nil
}

// DigestGOST hashes data on the token with the Streebog of bits-bit keys
// (C_Digest).
func (s *Session) DigestGOST(bits int, data []byte) ([]byte, error) {
	ids, ok := gostMechanisms[bits]
	if !ok {
		return nil, fmt.Errorf("%w: Streebog-%d", ErrMechanismUnsupported, bits)
	}
	if err := s.s.c.DigestInit(s.s.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ids.digest, nil)}); err != nil {
		return nil, fmt.Errorf("hashing: %w", mapMechanismError("C_DigestInit", err))
	}
	sum, err := s.s.c.Digest(s.s.sh, data)
	if err != nil {
		return nil, fmt.Errorf("hashing: %w", mapMechanismError("C_Digest", err))
	}
	if len(sum) != bits/8 {
		return nil, fmt.Errorf("hashing: the token returned a Streebog-%d digest of %d bytes", bits, len(sum))
	}
	return sum, nil
}

// parseCertificate is x509.ParseCertificate with GOST public keys filled in.
func parseCertificate(der []byte) (*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return gost.WithPublicKey(cert), nil
}
