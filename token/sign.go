package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/tokenagent/tokenagent/internal/gost"
)

// ErrMechanismUnsupported means the token cannot sign the way asked.
var ErrMechanismUnsupported = errors.New("mechanism not supported by the token")

// SignScheme is a signature scheme.
type SignScheme int

// The signature schemes the agent uses.
const (
	RSAPKCS1v15 SignScheme = iota + 1
	RSAPSS                 // salt length = hash length, MGF1 with the same hash
	ECDSA                  // the token returns r‖s
	GOSTR3410              // GOST R 34.10-2012; the token returns s‖r
)

// Mechanism says how to sign: a scheme, a hash, and whether the token hashes
// the data itself or is given the digest.
type Mechanism struct {
	Scheme SignScheme
	Hash   crypto.Hash // SHA256, SHA384 or SHA512; not GOSTR3410's
	// Streebog is GOSTR3410's hash, the Streebog of the key's size: 256
	// or 512 (bits).
	Streebog    int
	HashOnToken bool
}

// hashMechs are, per hash: the digest mechanism, the MGF, and the
// hash-and-sign mechanisms per scheme.
var hashMechs = map[crypto.Hash]struct {
	digest, mgf uint
	onToken     map[SignScheme]uint
}{
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, map[SignScheme]uint{
		RSAPKCS1v15: pkcs11.CKM_SHA256_RSA_PKCS, RSAPSS: pkcs11.CKM_SHA256_RSA_PKCS_PSS, ECDSA: pkcs11.CKM_ECDSA_SHA256}},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384, map[SignScheme]uint{
		RSAPKCS1v15: pkcs11.CKM_SHA384_RSA_PKCS, RSAPSS: pkcs11.CKM_SHA384_RSA_PKCS_PSS, ECDSA: pkcs11.CKM_ECDSA_SHA384}},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512, map[SignScheme]uint{
		RSAPKCS1v15: pkcs11.CKM_SHA512_RSA_PKCS, RSAPSS: pkcs11.CKM_SHA512_RSA_PKCS_PSS, ECDSA: pkcs11.CKM_ECDSA_SHA512}},
}

// digestOnlyMechs sign a digest computed outside the token.
var digestOnlyMechs = map[SignScheme]uint{
	RSAPKCS1v15: pkcs11.CKM_RSA_PKCS,
	RSAPSS:      pkcs11.CKM_RSA_PKCS_PSS,
	ECDSA:       pkcs11.CKM_ECDSA,
}

// tc26Vendor is the TC26 vendor base (p11-kit's pkcs11x.h:
// NSSCK_VENDOR_PKCS11_RU_TEAM, 0x80000000 | 0x54321000).
const tc26Vendor = 0xD4321000

// gostMechs are, per GOST R 34.10-2012 key size (bits, which is also its
// Streebog's): the key-pair mechanism, signing a digest made elsewhere,
// hashing with Streebog and signing, and Streebog alone (C_Digest).
// PKCS#11 v2.40 has the 256-bit key pair and signing; the rest are the TC26
// vendor mechanisms as p11-kit's pkcs11x.h lists them (TestGOSTMechanismIDs
// reads it), which no module here implements. PKCS#11's
// CKM_GOSTR3410_WITH_GOSTR3411 hashes with the old GOST R 34.11-94 and is
// never used.
var gostMechs = map[int]struct{ keyPairGen, sign, signData, digest uint }{
	256: {
		keyPairGen: pkcs11.CKM_GOSTR3410_KEY_PAIR_GEN,
		sign:       pkcs11.CKM_GOSTR3410,
		signData:   tc26Vendor | 0x008, // CKM_GOSTR3410_WITH_GOSTR3411_2012_256
		digest:     tc26Vendor | 0x012, // CKM_GOSTR3411_2012_256
	},
	512: {
		keyPairGen: tc26Vendor | 0x005, // CKM_GOSTR3410_512_KEY_PAIR_GEN
		sign:       tc26Vendor | 0x006, // CKM_GOSTR3410_512
		signData:   tc26Vendor | 0x009, // CKM_GOSTR3410_WITH_GOSTR3411_2012_512
		digest:     tc26Vendor | 0x013, // CKM_GOSTR3411_2012_512
	},
}

// digestInfoPrefixes are the DER DigestInfo headers PKCS#1 v1.5 puts before
// the digest; CKM_RSA_PKCS signs exactly the bytes it is given.
var digestInfoPrefixes = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// pkcs11Mechanism returns the PKCS#11 mechanism for m.
func (m Mechanism) pkcs11Mechanism() (*pkcs11.Mechanism, error) {
	if m.Scheme == GOSTR3410 {
		gm, ok := gostMechs[m.Streebog]
		if !ok {
			return nil, fmt.Errorf("%w: Streebog-%d", ErrMechanismUnsupported, m.Streebog)
		}
		if m.HashOnToken {
			return pkcs11.NewMechanism(gm.signData, nil), nil
		}
		return pkcs11.NewMechanism(gm.sign, nil), nil
	}
	hm, ok := hashMechs[m.Hash]
	if !ok {
		return nil, fmt.Errorf("%w: hash %v", ErrMechanismUnsupported, m.Hash)
	}
	typ := digestOnlyMechs[m.Scheme]
	if m.HashOnToken {
		typ = hm.onToken[m.Scheme]
	}
	if typ == 0 {
		return nil, fmt.Errorf("%w: scheme %d", ErrMechanismUnsupported, m.Scheme)
	}
	var params any
	if m.Scheme == RSAPSS {
		params = pkcs11.NewPSSParams(hm.digest, hm.mgf, uint(m.Hash.Size()))
	}
	return pkcs11.NewMechanism(typ, params), nil
}

// Supports reports whether the token offers the mechanism m needs.
func (s *Session) Supports(m Mechanism) (bool, error) {
	pm, err := m.pkcs11Mechanism()
	if err != nil {
		return false, nil
	}
	types, err := s.mechanisms()
	if err != nil {
		return false, err
	}
	return types[pm.Mechanism], nil
}

// mechanisms returns the mechanism types the token offers, read once per
// token: the list does not change while the token is plugged in.
func (t *heldToken) mechanisms() (map[uint]bool, error) {
	if t.state.mechs != nil {
		return t.state.mechs, nil
	}
	list, err := t.p11.GetMechanismList(t.info.Slot)
	if err != nil {
		return nil, mapError("C_GetMechanismList", err)
	}
	types := make(map[uint]bool, len(list))
	for _, m := range list {
		types[m.Mechanism] = true
	}
	t.state.mechs = types
	return types, nil
}

// offers tells whether the token lists mechanism typ and, when bits is not
// zero, allows keys of that size with it (C_GetMechanismInfo, read once per
// token and mechanism): ErrMechanismUnsupported when not. A module that
// gives no maximum is taken to allow any size.
func (t *heldToken) offers(typ uint, bits int) error {
	types, err := t.mechanisms()
	if err != nil {
		return err
	}
	if !types[typ] {
		return fmt.Errorf("%w: mechanism 0x%X not offered", ErrMechanismUnsupported, typ)
	}
	if bits == 0 {
		return nil
	}
	info, ok := t.state.mechInfo[typ]
	if !ok {
		info, err = t.p11.GetMechanismInfo(t.info.Slot, []*pkcs11.Mechanism{pkcs11.NewMechanism(typ, nil)})
		if err != nil {
			return mapMechanismError("C_GetMechanismInfo", err)
		}
		if t.state.mechInfo == nil {
			t.state.mechInfo = map[uint]pkcs11.MechanismInfo{}
		}
		t.state.mechInfo[typ] = info
	}
	if uint(bits) < info.MinKeySize || (info.MaxKeySize != 0 && uint(bits) > info.MaxKeySize) {
		return fmt.Errorf("%w: %d-bit keys (the token takes %d to %d)", ErrMechanismUnsupported, bits, info.MinKeySize, info.MaxKeySize)
	}
	return nil
}

// Sign signs input with key: the data itself when m.HashOnToken, else its
// digest. ECDSA signatures come back as r‖s, as PKCS#11 gives them. A
// mechanism the token does not list is refused before it is asked; a key
// that needs a login for each use gets one with the call's PIN.
func (s *Session) Sign(key PrivateKey, m Mechanism, input []byte) ([]byte, error) {
	pm, err := m.pkcs11Mechanism()
	if err != nil {
		return nil, err
	}
	// Modules differ in how they refuse a scheme for the wrong key type
	// (SoftHSM fails C_Sign with CKR_GENERAL_ERROR), so check first.
	if !m.fits(key.Public) {
		return nil, fmt.Errorf("signing: key %s: %w", key.ID, ErrMechanismUnsupported)
	}
	if err := s.offers(pm.Mechanism, 0); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if !m.HashOnToken {
		if name, size := m.digest(); len(input) != size {
			return nil, fmt.Errorf("digest is %d bytes, %s needs %d", len(input), name, size)
		}
		if m.Scheme == RSAPKCS1v15 {
			input = append(append([]byte(nil), digestInfoPrefixes[m.Hash]...), input...)
		}
	}
	if err := s.p11.SignInit(s.sh, []*pkcs11.Mechanism{pm}, key.handle); err != nil {
		return nil, fmt.Errorf("signing: %w", mapMechanismError("C_SignInit", err))
	}
	if key.alwaysAuth {
		if err := s.loginFor(pkcs11.CKU_CONTEXT_SPECIFIC, s.cred); err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
	}
	var sig []byte
	if size := signatureSize(key.Public); size > 0 && s.mod.direct.available() {
		sig, err = s.mod.direct.sign(s.sh, input, size)
	} else {
		sig, err = s.p11.Sign(s.sh, input)
	}
	if err != nil {
		return nil, fmt.Errorf("signing: %w", mapMechanismError("C_Sign", err))
	}
	return sig, nil
}

// fits tells whether m signs with keys like pub.
func (m Mechanism) fits(pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return m.Scheme == RSAPKCS1v15 || m.Scheme == RSAPSS
	case *ecdsa.PublicKey:
		return m.Scheme == ECDSA
	case *gost.PublicKey:
		return m.Scheme == GOSTR3410 && m.Streebog == k.Variant.Bits
	}
	return false
}

// digest names the digest m signs and gives its size in bytes.
func (m Mechanism) digest() (string, int) {
	if m.Scheme == GOSTR3410 {
		return fmt.Sprintf("Streebog-%d", m.Streebog), m.Streebog / 8
	}
	return m.Hash.String(), m.Hash.Size()
}

// signatureSize is how long a signature by the key with public half pub
// is: the modulus for RSA, both halves of r‖s for ECDSA, of s‖r for GOST;
// 0 when unknown.
func signatureSize(pub crypto.PublicKey) int {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k.Size()
	case *ecdsa.PublicKey:
		return 2 * ((k.Curve.Params().BitSize + 7) / 8)
	case *gost.PublicKey:
		return 2 * k.Variant.DigestSize()
	}
	return 0
}

// mapMechanismError is mapError with the codes that mean "not this way".
func mapMechanismError(fn string, err error) error {
	var code pkcs11.Error
	if errors.As(err, &code) {
		switch code {
		case pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_MECHANISM_PARAM_INVALID, pkcs11.CKR_KEY_TYPE_INCONSISTENT,
			pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED:
			return fmt.Errorf("%s: %s: %w", fn, CodeName(code), ErrMechanismUnsupported)
		}
	}
	return mapError(fn, err)
}
