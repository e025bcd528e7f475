package ws

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"slices"
	"time"
	"unicode/utf8"

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

// keySpec reads the optional "algorithm" and "paramSet" members. What they
// mean together (a GOST key's parameter set) is the agent's to check
// (agent.KeySpec.Check), before the token is asked anything.
func (p paramSet) keySpec() (agent.KeySpec, error) {
	alg, err := p.keyAlgorithm("algorithm")
	if err != nil {
		return agent.KeySpec{}, err
	}
	name, err := p.bounded("paramSet", "", maxParamSet)
	return agent.KeySpec{Algorithm: alg, ParamSet: name}, err
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
	label, err := p.bounded("label", "", maxLabel)
	if err != nil {
		return nil, err
	}
	k, err := s.agent.GenerateKey(ctx, call, spec, label)
	if err != nil {
		return nil, err
	}
	spki, err := k.PublicKeyDER()
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
	keyID, err := p.objectID("key", true)
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
		if max := subjectBounds[name]; utf8.RuneCountInString(*field) > max {
			return nil, invalid("subject.%s must hold at most %d characters", name, max)
		}
	}
	if req.DNSNames, err = p.names("dnsNames", maxDNSName); err != nil {
		return nil, err
	}
	if req.Emails, err = p.names("emails", maxEmail); err != nil {
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
	label, err := p.bounded("label", "", maxLabel)
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
	id, err := p.objectID("id", true)
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
	certID, err := p.objectID("cert", true)
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
	replaces, err := p.objectID("replaces", false)
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
	newPIN, err := p.newPIN(call)
	if err != nil {
		return nil, err
	}
	if err := s.agent.ChangePIN(ctx, call, newPIN); err != nil {
		return nil, err
	}
	return map[string]bool{"changed": true}, nil
}

func (s *Server) pinUnlock(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	newPIN, err := p.newPIN(call)
	if err != nil {
		return nil, err
	}
	if err := s.agent.UnlockPIN(ctx, call, newPIN); err != nil {
		return nil, err
	}
	return map[string]bool{"unlocked": true}, nil
}

type keyWire struct {
	ID           string   `json:"id"`
	Label        string   `json:"label"`
	Algorithm    *string  `json:"algorithm"`
	KeySize      *int     `json:"keySize"`
	Curve        *string  `json:"curve"`
	ParamSet     string   `json:"paramSet,omitempty"` // GOST keys only
	PublicKey    *string  `json:"publicKey"`
	Certificates []string `json:"certificates"`
}

type keysWire struct {
	Keys     []keyWire `json:"keys"`
	Complete bool      `json:"complete"`
}

func toKeys(l agent.KeyList) (keysWire, error) {
	out := keysWire{Keys: make([]keyWire, len(l.Keys)), Complete: l.Complete}
	for i, k := range l.Keys {
		w := keyWire{ID: k.ID, Label: k.Label, Certificates: nonNil(k.Certificates)}
		if k.Public != nil {
			spki, err := k.PublicKeyDER()
			if err != nil {
				return keysWire{}, err
			}
			size := k.Type.Size
			w.Algorithm, w.KeySize, w.Curve, w.ParamSet = &k.Type.Algorithm, &size, nullable(k.Type.Curve), k.Type.ParamSet
			w.PublicKey = new(base64.StdEncoding.EncodeToString(spki))
		}
		out.Keys[i] = w
	}
	return out, nil
}

func (s *Server) keysList(ctx context.Context, _ *conn, params json.RawMessage) (any, error) {
	_, tokenID, err := readTokenParams(params)
	if err != nil {
		return nil, err
	}
	l, err := s.agent.Keys(ctx, tokenID)
	if err != nil {
		return nil, err
	}
	return toKeys(l)
}

func (s *Server) keysListLoggedIn(ctx context.Context, _ paramSet, call agent.Call) (any, error) {
	l, err := s.agent.KeysLoggedIn(ctx, call)
	if err != nil {
		return nil, err
	}
	return toKeys(l)
}

type pendingWire struct {
	Key       string    `json:"key"`
	Cert      string    `json:"cert"`
	CSR       string    `json:"csr"`
	CreatedAt time.Time `json:"createdAt"`
}

func (s *Server) renewalPending(ctx context.Context, _ *conn, params json.RawMessage) (any, error) {
	_, tokenID, err := readTokenParams(params)
	if err != nil {
		return nil, err
	}
	pending, err := s.agent.PendingRenewals(ctx, tokenID)
	if err != nil {
		return nil, err
	}
	out := make([]pendingWire, len(pending))
	for i, r := range pending {
		out[i] = pendingWire{Key: r.Key, Cert: r.Cert, CSR: csrPEM(r.CSR), CreatedAt: r.CreatedAt.UTC()}
	}
	return map[string][]pendingWire{"pending": out}, nil
}

func (s *Server) renewalCancel(ctx context.Context, p paramSet, call agent.Call) (any, error) {
	keyID, err := p.objectID("key", true)
	if err != nil {
		return nil, err
	}
	n, err := s.agent.CancelRenewal(ctx, call, keyID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"cancelled": true, "deleted": n}, nil
}
