package signer

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/token"
)

// Streebog is a GOST R 34.11-2012 digest size in bits, the crypto.SignerOpts
// a GOST key's Sign and SignData take: the digest given to Sign is a
// Streebog digest of that size, which must be the key's own. crypto.Hash has
// no Streebog, so HashFunc is 0.
type Streebog int

// The two Streebog sizes.
const (
	Streebog256 Streebog = 256
	Streebog512 Streebog = 512
)

// HashFunc is 0: see the type's doc.
func (Streebog) HashFunc() crypto.Hash { return 0 }

// gostOpts checks that opts is the Streebog of the key's size.
func gostOpts(pub *gost.PublicKey, opts crypto.SignerOpts) error {
	if s, ok := opts.(Streebog); !ok || int(s) != pub.Variant.Bits {
		return fmt.Errorf("%w: a GOST-2012-%d key signs Streebog-%d digests", ErrUnsupportedHash, pub.Variant.Bits, pub.Variant.Bits)
	}
	return nil
}

// Digest returns the Streebog digest of data of a GOST key's size: made on
// the token when it offers Streebog (C_Digest), else here.
func (k *Key) Digest(data []byte) ([]byte, error) {
	pub, ok := k.key.Public.(*gost.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key %s: %w: digests are for GOST keys", k.key.ID, ErrUnsupportedKey)
	}
	sum, err := k.s.DigestStreebog(pub.Variant.Bits, data)
	if errors.Is(err, token.ErrMechanismUnsupported) {
		h := pub.Variant.NewHash()
		h.Write(data)
		return h.Sum(nil), nil
	}
	return sum, err
}

// isGOST reports whether pub is a GOST key.
func isGOST(pub crypto.PublicKey) bool {
	_, ok := pub.(*gost.PublicKey)
	return ok
}

// gostCMSAlgorithms is cmsAlgorithms for a GOST certificate, or for
// options naming Streebog. The identifiers are R 1323565.1.024-2019's: the
// digest algorithm id-tc26-gost3411-12-256 (or -512) and, as the signature
// algorithm, the key's own id-tc26-gost3410-12-256 (or -512), both without
// parameters. The signing-certificate-v2 hash is the Streebog of the same
// size, named in the ESSCertIDv2.
func gostCMSAlgorithms(key crypto.Signer, cert *x509.Certificate, opts CMSOptions) (cmsAlgs, error) {
	pub, ok := cert.PublicKey.(*gost.PublicKey)
	switch {
	case !ok:
		return cmsAlgs{}, fmt.Errorf("%w: Streebog digests need a GOST key", ErrUnsupportedHash)
	case opts.PSS:
		return cmsAlgs{}, ErrPSSNotRSA
	}
	if err := gostOpts(pub, opts.Streebog); err != nil {
		return cmsAlgs{}, err
	}
	if !pub.Equal(key.Public()) {
		return cmsAlgs{}, ErrKeyMismatch
	}
	v := pub.Variant
	local := func(data []byte) []byte {
		h := v.NewHash()
		h.Write(data)
		return h.Sum(nil)
	}
	algs := cmsAlgs{
		digest:     pkix.AlgorithmIdentifier{Algorithm: v.DigestOID},
		signature:  pkix.AlgorithmIdentifier{Algorithm: v.KeyOID},
		signOpts:   opts.Streebog,
		digestSize: v.DigestSize(),
		sum:        func(data []byte) ([]byte, error) { return local(data), nil },
		essHash:    pkix.AlgorithmIdentifier{Algorithm: v.DigestOID},
		essSum:     local,
	}
	// A token key hashes on the token when the token offers Streebog.
	if k, ok := key.(*Key); ok {
		algs.sum = k.Digest
	}
	return algs, nil
}
