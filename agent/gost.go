package agent

import (
	"strconv"
	"time"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// GOST R 34.10-2012 signing: the parts of sign.go that differ for GOST
// keys, which sign Streebog digests of their own size.

// gostKeyAlgorithm is a GOST certificate's Certificate.KeyAlgorithm; the
// size is in KeySize, as for RSA.
const gostKeyAlgorithm = "GOST-2012"

// validStreebog reports whether opts names a Streebog digest.
func validStreebog(opts SignOptions) bool {
	return opts.Streebog == signer.Streebog256 || opts.Streebog == signer.Streebog512
}

// digestSize is the length in bytes of a digest made as opts say.
func digestSize(opts SignOptions) int {
	if opts.Streebog != 0 {
		return int(opts.Streebog) / 8
	}
	return opts.Hash.Size()
}

// digestName names the digest algorithm of opts for messages.
func digestName(opts SignOptions) string {
	if opts.Streebog != 0 {
		return "Streebog-" + strconv.Itoa(int(opts.Streebog))
	}
	return opts.Hash.String()
}

// gostAlgorithmName is algorithmName where a GOST key or a Streebog digest
// is involved: "GOST-2012-256-STREEBOG-256" or "GOST-2012-512-STREEBOG-512".
// Any other pairing is an invalid request.
func gostAlgorithmName(key token.PrivateKey, opts SignOptions) (string, error) {
	pub, ok := key.Public.(*gost.PublicKey)
	switch {
	case !ok:
		return "", Errorf(ReasonInvalidParams, "STREEBOG digests need a GOST key")
	case opts.PSS:
		return "", Errorf(ReasonInvalidParams, "pss padding needs an RSA key")
	case int(opts.Streebog) != pub.Variant.Bits:
		bits := strconv.Itoa(pub.Variant.Bits)
		return "", Errorf(ReasonInvalidParams, "a GOST-2012-%s key signs with digestAlgorithm STREEBOG-%s", bits, bits)
	}
	bits := strconv.Itoa(pub.Variant.Bits)
	return "GOST-2012-" + bits + "-STREEBOG-" + bits, nil
}

// signGOST is signOne for a GOST key: raw s‖r, or CMS with the GOST
// identifiers (signer.SignCMS).
func signGOST(key *signer.Key, cert *token.Certificate, opts SignOptions, in SignInput, now time.Time) ([]byte, error) {
	if opts.Format == FormatRaw {
		if in.Data != nil {
			return key.SignData(in.Data, opts.Streebog)
		}
		return key.Sign(nil, in.Digest, opts.Streebog)
	}
	cmsOpts := signer.CMSOptions{Streebog: opts.Streebog, Detached: opts.Detached, SigningTime: now}
	if in.Data != nil {
		return signer.SignCMS(key, cert.Cert, in.Data, cmsOpts)
	}
	return signer.SignCMSDigest(key, cert.Cert, in.Digest, cmsOpts)
}
