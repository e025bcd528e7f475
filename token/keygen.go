package token

import (
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/tokenagent/tokenagent/internal/gost"
)

// KeySpec says what key pair to generate.
type KeySpec struct {
	Algorithm KeyAlgorithm
	// ParamSet names a GOST key's parameter set (gost.ParamSets); empty
	// lets the token choose among those it takes. Other keys take none.
	ParamSet string
}

// Check reports, without a token, whether spec names a key the agent
// makes; errors wrap ErrUnsupportedAlgorithm.
func (spec KeySpec) Check() error {
	if spec.ParamSet != "" {
		return checkGOSTParamSet(spec)
	}
	if _, ok := keyGens[spec.Algorithm]; !ok {
		return fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, spec.Algorithm)
	}
	return nil
}

// SpecOf returns what generates a key like pub: its algorithm and, for a
// GOST key, its parameter set. The algorithm is "" when the agent cannot
// generate keys of its kind.
func SpecOf(pub crypto.PublicKey) KeySpec {
	spec := KeySpec{Algorithm: AlgorithmOf(pub)}
	if k, ok := pub.(*gost.PublicKey); ok && spec.Algorithm != "" {
		spec.ParamSet = k.ParamSet.Name
	}
	return spec
}

// keyGen is how keys of one algorithm are made: the mechanism, the key size
// its C_GetMechanismInfo must allow (bits of the modulus or of the curve),
// and the domain: for EC the curve, for GOST the key size, whose parameter
// set is chosen at generation (gost.go). A GOST mechanism makes keys of one
// size, so its bits are 0: its size range decides nothing (SoftHSM gives
// none).
type keyGen struct {
	mech  uint
	bits  int
	curve asn1.ObjectIdentifier
	gost  int
}

var keyGens = map[KeyAlgorithm]keyGen{
	RSA2048: {mech: pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, bits: 2048},
	RSA3072: {mech: pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, bits: 3072},
	RSA4096: {mech: pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, bits: 4096},
	ECP256:  {mech: pkcs11.CKM_EC_KEY_PAIR_GEN, bits: 256, curve: oidP256},
	ECP384:  {mech: pkcs11.CKM_EC_KEY_PAIR_GEN, bits: 384, curve: oidP384},
	GOST256: {mech: gostMechs[256].keyPairGen, gost: 256},
	GOST512: {mech: gostMechs[512].keyPairGen, gost: 512},
}

// canGenerate tells, from what the token says of its mechanisms, whether it
// makes key pairs of alg: ErrMechanismUnsupported when not.
func (t *heldToken) canGenerate(alg KeyAlgorithm) error {
	g, ok := keyGens[alg]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, alg)
	}
	if err := t.offers(g.mech, g.bits); err != nil {
		return fmt.Errorf("generating %s key: %w", alg, err)
	}
	return nil
}

// GenerateKeyPair creates a key pair on the token: the private key sensitive
// and non-extractable, both halves sharing a fresh random CKA_ID. A spec
// that names no key the agent makes, a token that is write-protected, and
// one whose mechanisms do not make such keys are refused before the token
// is asked to.
func (s *Session) GenerateKeyPair(spec KeySpec, label string) (PrivateKey, error) {
	if err := spec.Check(); err != nil {
		return PrivateKey{}, err
	}
	if err := s.writable(); err != nil {
		return PrivateKey{}, err
	}
	alg := spec.Algorithm
	if err := s.canGenerate(alg); err != nil {
		return PrivateKey{}, err
	}
	g := keyGens[alg]
	ckaID := make([]byte, 20)
	if _, err := rand.Read(ckaID); err != nil {
		return PrivateKey{}, fmt.Errorf("making a key id: %w", err)
	}
	common := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, ckaID),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	public := append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
	}, common...)
	private := append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	}, common...)
	switch {
	case g.gost != 0: // the parameter sets are offered in generateGOST
	case g.curve != nil:
		params, err := asn1.Marshal(g.curve)
		if err != nil {
			return PrivateKey{}, fmt.Errorf("encoding curve: %w", err)
		}
		public = append(public, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params))
	default:
		public = append(public,
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, g.bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
	}
	s.forget()
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(g.mech, nil)}
	var pubH, privH pkcs11.ObjectHandle
	var err error
	if g.gost != 0 {
		pubH, privH, err = s.generateGOST(spec, mech, public, private)
	} else {
		pubH, privH, err = s.p11.GenerateKeyPair(s.sh, mech, public, private)
		err = mapMechanismError("C_GenerateKeyPair", err)
	}
	if err != nil {
		return PrivateKey{}, fmt.Errorf("generating %s key: %w", alg, err)
	}
	pub, err := s.publicKey(pubH)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("reading the new public key: %w", err)
	}
	keys, err := s.privateKeys(ckaID)
	if err != nil {
		return PrivateKey{}, err
	}
	for _, k := range keys {
		if k.handle == privH {
			k.Public = pub
			return k, nil
		}
	}
	return PrivateKey{}, fmt.Errorf("generated key not found on the token: %w", ErrObjectNotFound)
}
