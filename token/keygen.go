package token

import (
	"crypto/rand"
	"encoding/asn1"
	"fmt"

	"github.com/miekg/pkcs11"
)

// keyGen is how keys of one algorithm are made: the mechanism, the key size
// its C_GetMechanismInfo must allow (bits of the modulus or of the curve),
// and for EC the curve.
type keyGen struct {
	mech  uint
	bits  int
	curve asn1.ObjectIdentifier
}

var keyGens = map[KeyAlgorithm]keyGen{
	RSA2048: {pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, nil},
	RSA3072: {pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, 3072, nil},
	RSA4096: {pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, 4096, nil},
	ECP256:  {pkcs11.CKM_EC_KEY_PAIR_GEN, 256, oidP256},
	ECP384:  {pkcs11.CKM_EC_KEY_PAIR_GEN, 384, oidP384},
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
// and non-extractable, both halves sharing a fresh random CKA_ID. A token
// that is write-protected, or whose mechanisms do not make such keys, is
// refused before it is asked to.
func (s *Session) GenerateKeyPair(alg KeyAlgorithm, label string) (PrivateKey, error) {
	if err := s.writable(); err != nil {
		return PrivateKey{}, err
	}
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
	if g.curve == nil {
		public = append(public,
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, g.bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
	} else {
		params, err := asn1.Marshal(g.curve)
		if err != nil {
			return PrivateKey{}, fmt.Errorf("encoding curve: %w", err)
		}
		public = append(public, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params))
	}
	s.forget()
	pubH, privH, err := s.p11.GenerateKeyPair(s.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(g.mech, nil)}, public, private)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("generating %s key: %w", alg, mapMechanismError("C_GenerateKeyPair", err))
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
