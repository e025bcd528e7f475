package ws

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"

	"github.com/tokenagent/tokenagent/agent"
)

// This file reads the params of sign and sign.batch and shapes their
// results.

// digestAlgorithms and streebogAlgorithms (GOST R 34.11-2012, for GOST
// keys) are the protocol's digestAlgorithm names, and signFormats its
// format names; the params of sign name them, and what the agent checks of
// the values is the agent's.
var (
	digestAlgorithms   = map[string]crypto.Hash{"SHA-256": crypto.SHA256, "SHA-384": crypto.SHA384, "SHA-512": crypto.SHA512}
	streebogAlgorithms = map[string]agent.Streebog{"STREEBOG-256": agent.Streebog256, "STREEBOG-512": agent.Streebog512}
	signFormats        = map[string]agent.SignFormat{"raw": agent.FormatRaw, "cms": agent.FormatCMS}
)

// signOptions reads the options sign and sign.batch share.
func (p paramSet) signOptions() (agent.SignOptions, error) {
	var opts agent.SignOptions
	var err error
	if opts.Cert, err = p.requiredString("cert"); err != nil {
		return opts, err
	}
	hashName, err := p.optionalString("digestAlgorithm", "SHA-256")
	if err != nil {
		return opts, err
	}
	var ok bool
	if opts.Hash, ok = digestAlgorithms[hashName]; !ok {
		if opts.Streebog, ok = streebogAlgorithms[hashName]; !ok {
			return opts, invalid("unknown digestAlgorithm %q", hashName)
		}
	}
	format, err := p.optionalString("format", "raw")
	if err != nil {
		return opts, err
	}
	if opts.Format, ok = signFormats[format]; !ok {
		return opts, invalid("unknown format %q", format)
	}
	padding, err := p.optionalString("padding", "pkcs1v15")
	if err != nil {
		return opts, err
	}
	switch padding {
	case "pkcs1v15":
	case "pss":
		opts.PSS = true
	default:
		return opts, invalid(`"padding" must be "pkcs1v15" or "pss"`)
	}
	opts.Detached, err = p.optionalBool("detached", true)
	return opts, err
}

// signInput reads one data-or-digest input.
func (p paramSet) signInput() (agent.SignInput, error) {
	var in agent.SignInput
	var err error
	if in.Data, err = p.optionalBytes("data"); err != nil {
		return in, err
	}
	in.Digest, err = p.optionalBytes("digest")
	return in, err
}

// signItems reads the items of sign.batch. A wrong item is an error with
// its index in the data.
func (p paramSet) signItems() ([]agent.SignInput, error) {
	// Decoding the whole array at once spares a validating pass and a
	// decoder per item. An item that is not an object fails it, and is
	// then found item by item.
	var objects []paramSet
	whole := kind(p["items"]) == '[' && json.Unmarshal(p["items"], &objects) == nil &&
		!slices.ContainsFunc(objects, func(o paramSet) bool { return o == nil }) // null items
	if !whole {
		raw, err := p.array("items")
		if err != nil {
			return nil, err
		}
		objects = make([]paramSet, len(raw))
		for i, r := range raw {
			if kind(r) != '{' || json.Unmarshal(r, &objects[i]) != nil {
				return nil, itemError(i, invalid("must be an object"))
			}
		}
	}
	items := make([]agent.SignInput, len(objects))
	for i, item := range objects {
		var err error
		if items[i], err = item.signInput(); err != nil {
			return nil, itemError(i, err)
		}
	}
	return items, nil
}

// itemError is err, an INVALID_PARAMS error about item i of a batch, with
// the item's index in the message and the data.
func itemError(i int, err error) error {
	e := invalid("items[%d]: %s", i, strings.TrimPrefix(err.Error(), "invalid params: ")).(*paramsError)
	e.index = &i
	return e
}

type signatureWire struct {
	Signature string `json:"signature"`
	Format    string `json:"format"`
	Algorithm string `json:"algorithm"`
}

func toSignature(s agent.Signature) signatureWire {
	return signatureWire{Signature: base64.StdEncoding.EncodeToString(s.Value), Format: string(s.Format), Algorithm: s.Algorithm}
}

func (s *Server) sign(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	opts, err := p.signOptions()
	if err != nil {
		return nil, err
	}
	in, err := p.signInput()
	if err != nil {
		return nil, err
	}
	sig, err := s.agent.Sign(ctx, call, opts, in)
	if err != nil {
		return nil, err
	}
	return toSignature(sig), nil
}

func (s *Server) signBatch(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	opts, err := p.signOptions()
	if err != nil {
		return nil, err
	}
	items, err := p.signItems()
	if err != nil {
		return nil, err
	}
	sigs, err := s.agent.SignBatch(ctx, call, opts, items)
	if err != nil {
		return nil, err
	}
	out := make([]signatureWire, len(sigs))
	for i, sig := range sigs {
		out[i] = toSignature(sig)
	}
	return map[string][]signatureWire{"signatures": out}, nil
}
