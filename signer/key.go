package signer

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/token"
)

// ErrUnsupported means the key cannot sign with the requested options; the
// more specific errors of this package wrap it.
var ErrUnsupported = errors.New("unsupported signing options")

// Key is a crypto.Signer over a private key on a token.
type Key struct {
	s   *token.Session
	key token.PrivateKey
}

var _ crypto.Signer = (*Key)(nil)

// New returns a signer for key in session s.
func New(s *token.Session, key token.PrivateKey) (*Key, error) {
	switch key.Public.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, *gost.PublicKey:
		return &Key{s: s, key: key}, nil
	}
	return nil, fmt.Errorf("key %s: %w: only RSA, EC and GOST keys sign", key.ID, ErrUnsupportedKey)
}

// Public returns the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.key.Public }

// Sign signs a digest made with opts.HashFunc(): RSA PKCS#1 v1.5, RSA-PSS
// when opts is *rsa.PSSOptions (salt length = hash length only), or ECDSA
// returning an ASN.1 DER signature, as crypto.Signer expects. A GOST key
// signs a Streebog digest (opts a Streebog) and returns s‖r.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	m, err := k.mechanism(opts)
	if err != nil {
		return nil, err
	}
	return k.sign(m, digest)
}

// SignData signs data itself, with the token's hash-and-sign mechanism when
// it has one and else by hashing (a GOST key's Digest) and signing the
// digest. The result is as Sign's.
func (k *Key) SignData(data []byte, opts crypto.SignerOpts) ([]byte, error) {
	m, err := k.mechanism(opts)
	if err != nil {
		return nil, err
	}
	onToken := m
	onToken.HashOnToken = true
	ok, err := k.s.Supports(onToken)
	if err != nil {
		return nil, err
	}
	if ok {
		return k.sign(onToken, data)
	}
	if m.Scheme == token.GOSTR3410 {
		digest, err := k.Digest(data)
		if err != nil {
			return nil, err
		}
		return k.sign(m, digest)
	}
	h := m.Hash.New()
	h.Write(data)
	return k.sign(m, h.Sum(nil))
}

// mechanism picks the token mechanism for opts and this key.
func (k *Key) mechanism(opts crypto.SignerOpts) (token.Mechanism, error) {
	if pub, ok := k.key.Public.(*gost.PublicKey); ok {
		if err := gostOpts(pub, opts); err != nil {
			return token.Mechanism{}, err
		}
		return token.Mechanism{Scheme: token.GOSTR3410, Streebog: pub.Variant.Bits}, nil
	}
	hash := opts.HashFunc()
	switch hash {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return token.Mechanism{}, fmt.Errorf("%w %v", ErrUnsupportedHash, hash)
	}
	m := token.Mechanism{Hash: hash}
	switch k.key.Public.(type) {
	case *rsa.PublicKey:
		m.Scheme = token.RSAPKCS1v15
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			if pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != hash.Size() {
				return token.Mechanism{}, fmt.Errorf("%w: PSS salt length %d", ErrUnsupported, pss.SaltLength)
			}
			m.Scheme = token.RSAPSS
		}
	case *ecdsa.PublicKey:
		m.Scheme = token.ECDSA
	}
	return m, nil
}

func (k *Key) sign(m token.Mechanism, input []byte) ([]byte, error) {
	sig, err := k.s.Sign(k.key, m, input)
	if err != nil {
		return nil, err
	}
	if m.Scheme == token.ECDSA {
		return ecdsaDER(sig)
	}
	return sig, nil
}

// ecdsaDER converts PKCS#11's r‖s into an ASN.1 Ecdsa-Sig-Value, encoded
// here rather than by encoding/asn1, whose reflection cost a batch of 100
// signatures a fifth of a millisecond.
func ecdsaDER(rs []byte) ([]byte, error) {
	// The largest curve, P-521, has 66-byte halves: every length fits in
	// the short or the one-byte long form below.
	if len(rs) == 0 || len(rs)%2 != 0 || len(rs) > 2*66 {
		return nil, fmt.Errorf("malformed ECDSA signature of %d bytes", len(rs))
	}
	n := len(rs) / 2
	r, s := derInteger(rs[:n]), derInteger(rs[n:])
	der := []byte{0x30} // SEQUENCE
	if body := len(r) + len(s); body < 0x80 {
		der = append(der, byte(body))
	} else {
		der = append(der, 0x81, byte(body))
	}
	return append(append(der, r...), s...), nil
}

// derInteger encodes the unsigned big-endian number b as a DER INTEGER:
// no leading zero bytes, but one where the top bit would make it negative.
func derInteger(b []byte) []byte {
	b = bytes.TrimLeft(b, "\x00")
	pad := len(b) == 0 || b[0]&0x80 != 0
	out := make([]byte, 0, 3+len(b))
	out = append(out, 0x02, 0) // INTEGER, length set below
	if pad {
		out = append(out, 0)
	}
	out = append(out, b...)
	out[1] = byte(len(out) - 2)
	return out
}
