package ws

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strings"

	"github.com/tokenagent/tokenagent/agent"
)

func (p paramSet) keyAlgorithm(name string) (agent.KeyAlgorithm, error) {
	s, err := p.optionalString(name, "")
	if err != nil || s == "" {
		return "", err
	}
	if !slices.Contains(agent.KeyAlgorithms, agent.KeyAlgorithm(s)) {
		return "", invalid("unknown algorithm %q", s)
	}
	return agent.KeyAlgorithm(s), nil
}

type generatedKeyWire struct {
	Key       string `json:"key"`
	PublicKey string `json:"publicKey"`
}

func (s *Server) keysGenerate(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	spec, err := p.keySpec()
	if err != nil {
		return nil, err
	}
	if spec.Algorithm == "" {
		return nil, invalid("missing %q", "algorithm")
	}
	label, err := p.optionalString("label", "")
	if err != nil {
		return nil, err
	}
	k, err := s.agent.GenerateKey(ctx, call, spec, label)
	if err != nil {
		return nil, err
	}
	spki, err := marshalPublicKey(k.PublicKey)
	if err != nil {
		return nil, err
	}
	return generatedKeyWire{Key: k.ID, PublicKey: base64.StdEncoding.EncodeToString(spki)}, nil
}

// subjectFields maps the protocol's subject members to agent.Subject fields.
func subjectFields(sub *agent.Subject) map[string]*string {
	return map[string]*string{
		"commonName": &sub.CommonName, "organization": &sub.Organization,
		"organizationalUnit": &sub.OrganizationalUnit, "country": &sub.Country,
		"province": &sub.Province, "locality": &sub.Locality,
		"serialNumber": &sub.SerialNumber, "email": &sub.Email,
	}
}

func csrPEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func (s *Server) csrCreate(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	keyID, err := p.requiredString("key")
	if err != nil {
		return nil, err
	}
	subject, err := p.object("subject")
	if err != nil {
		return nil, err
	}
	var req agent.CertificateRequest
	for name, field := range subjectFields(&req.Subject) {
		if *field, err = subject.optionalString(name, ""); err != nil {
			return nil, invalid("subject.%s must be a string", name)
		}
	}
	if req.Subject.CommonName == "" {
		return nil, invalid("missing %q", "subject.commonName")
	}
	if req.DNSNames, err = p.optionalStrings("dnsNames"); err != nil {
		return nil, err
	}
	if req.Emails, err = p.optionalStrings("emails"); err != nil {
		return nil, err
	}
	der, err := s.agent.CreateCSR(ctx, call, keyID, req)
	if err != nil {
		return nil, err
	}
	return map[string]string{"csr": csrPEM(der)}, nil
}

func (s *Server) certsImport(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	cert, err := p.certificate("certificate")
	if err != nil {
		return nil, err
	}
	label, err := p.optionalString("label", "")
	if err != nil {
		return nil, err
	}
	id, err := s.agent.ImportCertificate(ctx, call, cert, label)
	if err != nil {
		return nil, err
	}
	return map[string]string{"cert": id}, nil
}

func (s *Server) objectsDelete(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	id, err := p.requiredString("id")
	if err != nil {
		return nil, err
	}
	what, err := p.requiredString("what")
	if err != nil {
		return nil, err
	}
	kind := agent.ObjectKind(what)
	if kind != agent.DeleteCertificate && kind != agent.DeleteKey && kind != agent.DeleteBoth {
		return nil, invalid(`"what" must be "certificate", "key" or "both"`)
	}
	n, err := s.agent.DeleteObjects(ctx, call, id, kind)
	if err != nil {
		return nil, err
	}
	return map[string]int{"deleted": n}, nil
}

func (s *Server) renewalPrepare(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	certID, err := p.requiredString("cert")
	if err != nil {
		return nil, err
	}
	newKey, err := p.optionalBool("newKey", true)
	if err != nil {
		return nil, err
	}
	spec, err := p.keySpec()
	if err != nil {
		return nil, err
	}
	if spec != (agent.KeySpec{}) && !newKey {
		return nil, invalid(`"algorithm" and "paramSet" need "newKey": true`)
	}
	r, err := s.agent.PrepareRenewal(ctx, call, certID, newKey, spec)
	if err != nil {
		return nil, err
	}
	return map[string]string{"key": r.KeyID, "csr": csrPEM(r.CSR)}, nil
}

func (s *Server) renewalComplete(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	cert, err := p.certificate("certificate")
	if err != nil {
		return nil, err
	}
	replaces, err := p.optionalString("replaces", "")
	if err != nil {
		return nil, err
	}
	removeOld, err := p.optionalBool("removeOld", false)
	if err != nil {
		return nil, err
	}
	id, err := s.agent.CompleteRenewal(ctx, call, cert, replaces, removeOld)
	if err != nil {
		return nil, err
	}
	return map[string]string{"cert": id}, nil
}

func (s *Server) pinChange(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	newPIN, err := p.requiredString("newPin")
	if err != nil {
		return nil, err
	}
	if err := s.agent.ChangePIN(ctx, call, newPIN); err != nil {
		return nil, err
	}
	return map[string]bool{"changed": true}, nil
}

func (s *Server) pinUnlock(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	newPIN, err := p.requiredString("newPin")
	if err != nil {
		return nil, err
	}
	if err := s.agent.UnlockPIN(ctx, call, newPIN); err != nil {
		return nil, err
	}
	return map[string]bool{"unlocked": true}, nil
}

// digestAlgorithms are the protocol's digestAlgorithm names.
var digestAlgorithms = map[string]crypto.Hash{"SHA-256": crypto.SHA256, "SHA-384": crypto.SHA384, "SHA-512": crypto.SHA512}

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
	opts.Format = agent.SignFormat(format)
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
	e.err.Data = map[string]any{"index": i}
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

type mediaReportWire struct {
	Token     string         `json:"token"`
	Profile   *string        `json:"profile"`
	Legacy    bool           `json:"legacy"`
	UpgradeTo *string        `json:"upgradeTo"`
	Cert      *string        `json:"cert"`
	Remaining monthsDaysWire `json:"remaining"`
	CarryOver monthsDaysWire `json:"carryOver"`
	Credit    monthsDaysWire `json:"credit"`
}

type monthsDaysWire struct {
	Months int `json:"months"`
	Days   int `json:"days"`
}

func (s *Server) mediaCheck(ctx context.Context, _ *conn, params json.RawMessage) (any, error) {
	p, tokenID, err := readTokenParams(params)
	if err != nil {
		return nil, err
	}
	certID, err := p.optionalString("cert", "")
	if err != nil {
		return nil, err
	}
	at, err := p.optionalTime("at")
	if err != nil {
		return nil, err
	}
	r, err := s.agent.CheckMedia(ctx, tokenID, certID, at)
	if err != nil {
		return nil, err
	}
	md := func(v agent.MonthsDays) monthsDaysWire { return monthsDaysWire{Months: v.Months, Days: v.Days} }
	return mediaReportWire{
		Token: r.Token, Profile: nullable(r.Profile), Legacy: r.Legacy, UpgradeTo: nullable(r.UpgradeTo), Cert: nullable(r.Cert),
		Remaining: md(r.Remaining), CarryOver: md(r.CarryOver), Credit: md(r.Credit),
	}, nil
}
