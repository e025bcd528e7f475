package agent

import (
	"strconv"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// GOST R 34.10-2012 signing: what sign.go needs to know of GOST keys,
// which sign Streebog digests of their own size; signer makes the
// signatures as for any key.

// Streebog is a GOST R 34.11-2012 digest size in bits: SignOptions.Streebog.
type Streebog = signer.Streebog

// The Streebog digests.
const (
	Streebog256 = signer.Streebog256
	Streebog512 = signer.Streebog512
)

// gostKeyAlgorithm is a GOST certificate's Certificate.KeyAlgorithm; the
// size is in KeySize, as for RSA.
const gostKeyAlgorithm = "GOST-2012"

// validStreebog reports whether opts names a Streebog digest.
func validStreebog(opts SignOptions) bool {
	return opts.Streebog == signer.Streebog256 || opts.Streebog == signer.Streebog512
}

// digestSize is the length in bytes of a digest made as opts say.
func (opts SignOptions) digestSize() int {
	if opts.Streebog != 0 {
		return int(opts.Streebog) / 8
	}
	return opts.Hash.Size()
}

// digestName names the digest algorithm of opts for messages.
func (opts SignOptions) digestName() string {
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
		return "", Errorf(InvalidInput, "STREEBOG digests need a GOST key")
	case opts.PSS:
		return "", Errorf(InvalidInput, "pss padding needs an RSA key")
	case int(opts.Streebog) != pub.Variant.Bits:
		bits := strconv.Itoa(pub.Variant.Bits)
		return "", Errorf(InvalidInput, "a GOST-2012-%s key signs with digestAlgorithm STREEBOG-%s", bits, bits)
	}
	bits := strconv.Itoa(pub.Variant.Bits)
	return "GOST-2012-" + bits + "-STREEBOG-" + bits, nil
}
