package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

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
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return &Key{s: s, key: key}, nil
	}
	return nil, fmt.Errorf("key %s: %w: only RSA and EC keys sign", key.ID, ErrUnsupportedKey)
}

// Public returns the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.key.Public }

// Sign signs a digest made with opts.HashFunc(): RSA PKCS#1 v1.5, RSA-PSS
// when opts is *rsa.PSSOptions (salt length = hash length only), or ECDSA
// returning an ASN.1 DER signature, as crypto.Signer expects.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	m, err := k.mechanism(opts)
	if err != nil {
		return nil, err
	}
	return k.sign(m, digest)
}

// SignData signs data itself, with the token's hash-and-sign mechanism when
// it has one and else by hashing here and signing the digest. The result is
// as Sign's.
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
	h := m.Hash.New()
	h.Write(data)
	return k.sign(m, h.Sum(nil))
}

// mechanism picks the token mechanism for opts and this key.
func (k *Key) mechanism(opts crypto.SignerOpts) (token.Mechanism, error) {
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

// ecdsaDER converts PKCS#11's r‖s into an ASN.1 Ecdsa-Sig-Value.
func ecdsaDER(rs []byte) ([]byte, error) {
	if len(rs) == 0 || len(rs)%2 != 0 {
		return nil, fmt.Errorf("malformed ECDSA signature of %d bytes", len(rs))
	}
	n := len(rs) / 2
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(rs[:n]), new(big.Int).SetBytes(rs[n:])})
	if err != nil {
		return nil, fmt.Errorf("encoding ECDSA signature: %w", err)
	}
	return der, nil
}
