package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/token"
)

// KeyType is what keys.list and certs.list tell of a public key.
type KeyType struct {
	Algorithm string // "RSA", "EC", "GOST-2012", "Ed25519", or x509's name of another
	Size      int    // bits
	Curve     string // an EC key's curve, "P-256", …; empty for others
	ParamSet  string // a GOST key's parameter set, "CryptoPro-A", …; empty for others
}

// keyTypeOf describes pub; alg names the algorithm of a key the agent does
// not use, as a certificate's x509 parsing told it.
func keyTypeOf(pub crypto.PublicKey, alg x509.PublicKeyAlgorithm) KeyType {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		return KeyType{Algorithm: "RSA", Size: pub.N.BitLen()}
	case *ecdsa.PublicKey:
		return KeyType{Algorithm: "EC", Size: pub.Curve.Params().BitSize, Curve: pub.Curve.Params().Name}
	case ed25519.PublicKey:
		return KeyType{Algorithm: "Ed25519", Size: 256}
	case *gost.PublicKey:
		return KeyType{Algorithm: gostKeyAlgorithm, Size: pub.Variant.Bits, ParamSet: pub.ParamSet.String()}
	}
	return KeyType{Algorithm: alg.String()}
}

// publicKeyDER encodes pub as a DER SubjectPublicKeyInfo; a GOST key's is
// encoded by package gost, since crypto/x509 knows none.
func publicKeyDER(pub crypto.PublicKey) ([]byte, error) {
	if pub, ok := pub.(*gost.PublicKey); ok {
		return pub.MarshalPKIX()
	}
	return x509.MarshalPKIXPublicKey(pub)
}

// Key is a key pair on a token, as keys.list tells of it.
type Key struct {
	ID     string
	Label  string
	Public crypto.PublicKey // nil when the token tells none
	Type   KeyType          // zero when Public is nil
	// Certificates are the ids of the certificates bound to the key.
	Certificates []string
}

// PublicKeyDER returns the key's public key as a DER SubjectPublicKeyInfo;
// nil when the token tells none.
func (k Key) PublicKeyDER() ([]byte, error) {
	if k.Public == nil {
		return nil, nil
	}
	return publicKeyDER(k.Public)
}

// KeyList is the keys.list result.
type KeyList struct {
	Keys []Key
	// Complete: no private key can be missing, as the listing was made
	// logged in or on a token that needs no login.
	Complete bool
}

// Keys lists the key pairs token tokenID shows without a login. Pending
// renewals of keys not among them are dropped.
func (a *Agent) Keys(ctx context.Context, tokenID string) (KeyList, error) {
	l, err := a.hw.Keys(ctx, tokenID)
	if err != nil {
		return KeyList{}, classify(err)
	}
	a.renewals.keep(tokenID, l.Keys)
	return KeyList{Keys: keysOf(l.Keys, l.Certificates), Complete: l.Complete}, nil
}

// KeysLoggedIn lists every private key on the token, logged in with the
// call's PIN. Pending renewals of keys not among them are dropped.
func (a *Agent) KeysLoggedIn(ctx context.Context, call Call) (KeyList, error) {
	var out KeyList
	p := a.attempt(ctx, call)
	err := p.run(func() error {
		return p.login(func(s *token.Session) error {
			keys, err := s.PrivateKeys()
			if err != nil {
				return err
			}
			certs, err := s.Certificates()
			if err != nil {
				return err
			}
			a.renewals.keep(call.Token, keys)
			out = KeyList{Keys: keysOf(keys, certs), Complete: true}
			return nil
		})
	})
	return out, err
}

// keysOf describes keys with the certificates among certs bound to each; a
// key whose public half the token does not tell takes it from a bound
// certificate.
func keysOf(keys []token.PrivateKey, certs []token.Certificate) []Key {
	out := make([]Key, len(keys))
	for i, k := range keys {
		key := Key{ID: k.ID, Label: k.Label, Public: k.Public, Certificates: []string{}}
		for _, c := range certs {
			if !k.BoundTo(c) {
				continue
			}
			key.Certificates = append(key.Certificates, c.ID)
			if key.Public == nil {
				key.Public = c.Cert.PublicKey
			}
		}
		if key.Public != nil {
			key.Type = keyTypeOf(key.Public, x509.UnknownPublicKeyAlgorithm)
		}
		out[i] = key
	}
	return out
}
