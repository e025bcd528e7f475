package token

// GOST R 34.10-2012 keys: the parameter sets a key pair is generated on,
// public keys, and Streebog on the token. Their mechanisms are gostMechs
// (sign.go), beside the other families' tables; key generation is keyGens'
// (keygen.go) and signing Session.Sign's, as for any key.

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

// gostKeyAlgorithm is AlgorithmOf for a GOST key.
func gostKeyAlgorithm(k *gost.PublicKey) KeyAlgorithm {
	for alg, g := range keyGens {
		if g.gost != 0 && g.gost == k.Variant.Bits {
			return alg
		}
	}
	return ""
}

// checkGOSTParamSet is KeySpec.Check for a spec naming a parameter set: a
// known one, of the GOST algorithm's size.
func checkGOSTParamSet(spec KeySpec) error {
	bits := keyGens[spec.Algorithm].gost
	if bits == 0 {
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
// CKR_GENERAL_ERROR. Answered to a parameter set, CKR_GENERAL_ERROR is a
// refusal, not a module whose back end went away (backendGone).
var paramSetRefusals = map[pkcs11.Error]bool{
	pkcs11.CKR_DOMAIN_PARAMS_INVALID:   true,
	pkcs11.CKR_CURVE_NOT_SUPPORTED:     true,
	pkcs11.CKR_ATTRIBUTE_VALUE_INVALID: true,
	pkcs11.CKR_TEMPLATE_INCONSISTENT:   true,
	pkcs11.CKR_GENERAL_ERROR:           true,
	pkcs11.CKR_FUNCTION_FAILED:         true,
}

// generateGOST makes a GOST key pair of spec with mech from the common
// templates. PKCS#11 has no way to ask a token which parameter sets it
// takes, so without one named in spec it offers the token the sets of
// gost.GenerationOrder one after the other until one is taken.
func (s *Session) generateGOST(spec KeySpec, mech []*pkcs11.Mechanism, public, private []*pkcs11.Attribute) (pubH, privH pkcs11.ObjectHandle, err error) {
	bits := keyGens[spec.Algorithm].gost
	v, _ := gost.VariantOf(bits)
	sets := gost.GenerationOrder(bits)
	if p, ok := gost.ParamSetByName(spec.ParamSet); ok { // spec.Check made sure it fits
		sets = []gost.ParamSet{p}
	}
	digestParams, err := asn1.Marshal(v.DigestOID)
	if err != nil {
		return 0, 0, fmt.Errorf("encoding digest parameters: %w", err)
	}
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
		pubH, privH, err = s.p11.GenerateKeyPair(s.sh, mech, pub, private)
		var code pkcs11.Error
		if err == nil || !errors.As(err, &code) || !paramSetRefusals[code] {
			return pubH, privH, mapMechanismError("C_GenerateKeyPair", err)
		}
		refused = append(refused, fmt.Sprintf("%s (%s)", p, CodeName(code)))
	}
	return 0, 0, fmt.Errorf("the token refused parameter sets %v: %w", refused, ErrMechanismUnsupported)
}

// gostPublicKey reads a GOST public key object: the parameter set and the
// point, whose length tells the key's size.
func (s *Session) gostPublicKey(h pkcs11.ObjectHandle) (*gost.PublicKey, error) {
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

// DigestStreebog hashes data on the token with Streebog of bits, 256 or
// 512 (C_Digest). A token whose mechanism list lacks it is refused with
// ErrMechanismUnsupported before it is asked: the caller hashes elsewhere.
func (s *Session) DigestStreebog(bits int, data []byte) ([]byte, error) {
	gm, ok := gostMechs[bits]
	if !ok {
		return nil, fmt.Errorf("%w: Streebog-%d", ErrMechanismUnsupported, bits)
	}
	if err := s.offers(gm.digest, 0); err != nil {
		return nil, fmt.Errorf("hashing: %w", err)
	}
	if err := s.p11.DigestInit(s.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(gm.digest, nil)}); err != nil {
		return nil, fmt.Errorf("hashing: %w", mapMechanismError("C_DigestInit", err))
	}
	sum, err := s.p11.Digest(s.sh, data)
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
