package ws

import (
	"crypto"
	"crypto/x509"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/signer"
)

// The wire's GOST R 34.10-2012 words: the Streebog digestAlgorithm names,
// keys.generate's and renewal.prepare's paramSet, and GOST public keys.

// streebogAlgorithms are the digestAlgorithm names of GOST R 34.11-2012.
var streebogAlgorithms = map[string]signer.Streebog{"STREEBOG-256": signer.Streebog256, "STREEBOG-512": signer.Streebog512}

// keySpec reads the optional "algorithm" and "paramSet" members. The agent
// checks that they go together (agent.KeySpec.Check) before the token is
// asked anything.
func (p paramSet) keySpec() (agent.KeySpec, error) {
	alg, err := p.keyAlgorithm("algorithm")
	if err != nil {
		return agent.KeySpec{}, err
	}
	name, err := p.optionalString("paramSet", "")
	return agent.KeySpec{Algorithm: alg, ParamSet: name}, err
}

// marshalPublicKey is x509.MarshalPKIXPublicKey, which knows no GOST keys.
func marshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	if k, ok := pub.(*gost.PublicKey); ok {
		return k.MarshalPKIX()
	}
	return x509.MarshalPKIXPublicKey(pub)
}
