package ws

import (
	"crypto"
	"crypto/x509"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// The wire's GOST R 34.10-2012 words: the Streebog digestAlgorithm names,
// keys.generate's and renewal.prepare's paramSet, and GOST public keys.

// streebogAlgorithms are the digestAlgorithm names of GOST R 34.11-2012.
var streebogAlgorithms = map[string]signer.Streebog{"STREEBOG-256": signer.Streebog256, "STREEBOG-512": signer.Streebog512}

// gostBits are the sizes of the GOST key algorithms, which alone take a
// paramSet.
var gostBits = map[agent.KeyAlgorithm]int{token.GOST256: 256, token.GOST512: 512}

// keySpec reads the optional "algorithm" and "paramSet" members: a paramSet
// needs a GOST algorithm, and one of its size.
func (p paramSet) keySpec() (agent.KeySpec, error) {
	alg, err := p.keyAlgorithm("algorithm")
	if err != nil {
		return agent.KeySpec{}, err
	}
	name, err := p.optionalString("paramSet", "")
	if err != nil || name == "" {
		return agent.KeySpec{Algorithm: alg}, err
	}
	bits, ok := gostBits[alg]
	if !ok {
		return agent.KeySpec{}, invalid(`"paramSet" needs a GOST "algorithm"`)
	}
	if ps, ok := gost.ParamSetByName(name); !ok || ps.Bits != bits {
		var names []string
		for _, ps := range gost.ParamSets {
			if ps.Bits == bits {
				names = append(names, ps.Name)
			}
		}
		return agent.KeySpec{}, invalid("unknown paramSet %q for %s (want one of %v)", name, alg, names)
	}
	return agent.KeySpec{Algorithm: alg, ParamSet: name}, nil
}

// marshalPublicKey is x509.MarshalPKIXPublicKey, which knows no GOST keys.
func marshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	if k, ok := pub.(*gost.PublicKey); ok {
		return k.MarshalPKIX()
	}
	return x509.MarshalPKIXPublicKey(pub)
}
