package ws

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
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
	if opts.Cert, err = p.objectID("cert", true); err != nil {
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

// signItems reads the items of sign.batch, 1 to agent.MaxBatch of them. A
// wrong item is an error with its index in the data, unless there are too
// many items.
func (p paramSet) signItems() ([]agent.SignInput, error) {
	if !p.present("items") {
		return nil, invalid("missing %q", "items")
	}
	if kind(p["items"]) != '[' {
		return nil, invalid("%q must be an array", "items")
	}
	// Each item is read as it comes, and the count is checked first
	// whatever an item holds: reading stops at the first item past the
	// bound, so a longer array costs nothing but the frame it came in.
	dec := json.NewDecoder(bytes.NewReader(p["items"]))
	if _, err := dec.Token(); err != nil {
		return nil, invalid("%q must be an array", "items")
	}
	var items []agent.SignInput
	var itemErr error // the first wrong item's
	for i := 0; dec.More(); i++ {
		if i == agent.MaxBatch {
			return nil, invalid("items must hold 1 to %d entries", agent.MaxBatch)
		}
		var item paramSet
		err := dec.Decode(&item) // an item of the wrong type is consumed all the same
		if itemErr != nil {
			continue
		}
		var in agent.SignInput
		if err != nil || item == nil {
			err = invalid("must be an object")
		} else {
			in, err = item.signInput()
		}
		if err != nil {
			itemErr = itemError(i, err)
		}
		items = append(items, in)
	}
	switch {
	case len(items) == 0:
		return nil, invalid("items must hold 1 to %d entries", agent.MaxBatch)
	case itemErr != nil:
		return nil, itemErr
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
