package ws

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tokenagent/tokenagent/agent"
)

// pinMethod carries out a PIN-taking method, given its params and the call
// they make.
type pinMethod func(ctx context.Context, p paramSet, call agent.Call) (any, error)

// pinTaking makes the handler of a PIN-taking method: it reads the call
// (the token, the PIN in member pinName, confirmFinalTry, the connection's
// origin) and sees that a call refused for its params still leaves its line
// in the audit log; calls that reach the agent are audited there. When the
// call ends it clears the params' members, where the PINs came, and the
// call's PIN.
func (s *Server) pinTaking(method, pinName string, h pinMethod) handler {
	return func(ctx context.Context, c *conn, params json.RawMessage) (any, error) {
		p, err := readParams(params)
		defer p.clear() // the PINs in it, as they came
		var call agent.Call
		defer func() { clear(call.PIN) }() // the agent clears it too, when it is reached
		var held *heldCall
		if err == nil {
			// Which members came, never what they hold: whether a
			// page sent a PIN shows here.
			c.log.Debug("params", "method", method, "members", p.memberNames())
			call, held, err = s.readCall(ctx, c, p, method, pinName)
		}
		var result any
		if err == nil {
			result, err = h(ctx, p, call)
		}
		if held != nil {
			held.finish(err)
		}
		var pe *paramsError
		if errors.As(err, &pe) {
			s.agent.AuditRefused(ctx, agent.Call{Method: method, Origin: c.caller(), Token: p.auditTokenID()}, agent.InvalidInput)
		}
		return result, err
	}
}

// clear overwrites every member with zeros, so that the PINs they hold
// do not stay in memory after the call.
func (p paramSet) clear() {
	for _, v := range p {
		clear(v)
	}
}

// optionalString returns the string member name, or def when it is absent.
func (p paramSet) optionalString(name, def string) (string, error) {
	if !p.present(name) {
		return def, nil
	}
	return p.requiredString(name)
}

// optionalBool returns the boolean member name, or def when it is absent.
func (p paramSet) optionalBool(name string, def bool) (bool, error) {
	if !p.present(name) {
		return def, nil
	}
	var b bool
	if kind(p[name]) != 't' && kind(p[name]) != 'f' || json.Unmarshal(p[name], &b) != nil {
		return false, invalid("%q must be a boolean", name)
	}
	return b, nil
}

// object returns the object member name.
func (p paramSet) object(name string) (paramSet, error) {
	if !p.present(name) {
		return nil, invalid("missing %q", name)
	}
	var o paramSet
	if kind(p[name]) != '{' || json.Unmarshal(p[name], &o) != nil {
		return nil, invalid("%q must be an object", name)
	}
	return o, nil
}

// optionalBytes returns the base64 member name (standard alphabet, padded);
// nil when absent.
func (p paramSet) optionalBytes(name string) ([]byte, error) {
	if !p.present(name) {
		return nil, nil
	}
	s, err := p.requiredString(name)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, invalid("%q is not valid base64", name)
	}
	return b, nil
}

// certificate returns the certificate member name, PEM or base64 DER.
func (p paramSet) certificate(name string) (*x509.Certificate, error) {
	s, err := p.requiredBounded(name, maxCertificate)
	if err != nil {
		return nil, err
	}
	var der []byte
	if strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN") {
		block, _ := pem.Decode([]byte(s))
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, invalid("%q is not a PEM certificate", name)
		}
		der = block.Bytes
	} else if der, err = base64.StdEncoding.Strict().DecodeString(s); err != nil {
		return nil, invalid("%q is neither PEM nor base64 DER", name)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, invalid("%q is not an X.509 certificate: %v", name, err)
	}
	return cert, nil
}

// pinMembers are the params that carry PINs, in every method.
var pinMembers = []string{"pin", "oldPin", "newPin", "soPin"}

// memberNames returns the members' names, sorted.
func (p paramSet) memberNames() []string {
	return slices.Sorted(maps.Keys(p))
}

// readCall reads what every PIN-taking method starts from (call) and
// applies the origin's pin_entry. A call with consent carries no PIN: it
// gets a heldCall as its Consent, holding its nonce, which the caller
// must finish when the call ends.
func (s *Server) readCall(ctx context.Context, c *conn, p paramSet, method, pinName string) (agent.Call, *heldCall, error) {
	consent := p.present("consent")
	if refused := s.pinEntryRefuses(c.origin, consent); refused != "" {
		c.log.Info("request refused", "reason", string(reasonPermission), "method", method, "why", refused)
		s.agent.AuditRefused(ctx, agent.Call{Method: method, Origin: c.caller(), Token: p.auditTokenID()}, agent.PermissionDenied)
		return agent.Call{}, nil, &agent.Error{Kind: agent.PermissionDenied, Message: refused}
	}
	if !consent {
		call, err := p.call(c, method, pinName)
		return call, nil, err
	}
	for _, name := range pinMembers {
		if _, ok := p[name]; ok {
			return agent.Call{}, nil, invalid("a call with %q carries no %q: the person types it on the consent page", "consent", name)
		}
	}
	tokenID, err := p.tokenID()
	if err != nil {
		return agent.Call{}, nil, err
	}
	nonce, description, err := p.consentParams()
	if err != nil {
		return agent.Call{}, nil, err
	}
	held := &heldCall{s: s, nonce: nonce, description: description, origin: c.caller(), since: time.Now()}
	if err := s.consents.hold(held); err != nil {
		return agent.Call{}, nil, err
	}
	return agent.Call{Method: method, Origin: c.caller(), Token: tokenID, Attended: c.attended(), Consent: held}, held, nil
}

// newPIN reads the new PIN of pin.change and pin.unlock, which a call
// with consent leaves to the person.
func (p paramSet) newPIN(call agent.Call) ([]byte, error) {
	if call.Consent != nil {
		return nil, nil
	}
	return p.pin("newPin")
}

// call reads what every PIN-taking method starts from: the token and the
// PIN in member pinName, with the method and the connection's origin.
func (p paramSet) call(c *conn, method, pinName string) (agent.Call, error) {
	tokenID, err := p.tokenID()
	if err != nil {
		return agent.Call{}, err
	}
	pin, err := p.pin(pinName)
	if err != nil {
		return agent.Call{}, err
	}
	confirm, err := p.optionalBool("confirmFinalTry", false)
	if err != nil {
		return agent.Call{}, err
	}
	return agent.Call{Method: method, Origin: c.caller(), Token: tokenID, PIN: pin, ConfirmFinalTry: confirm, Attended: c.attended()}, nil
}

// attended reports whether the connection is a local program's (no
// Origin) or the agent's own page's: where a person, not a web page,
// decides (agent.Call.Attended).
func (c *conn) attended() bool {
	return c.origin == "" || c.s.isOwn(c.origin)
}

// caller is the origin the agent knows the connection's calls by.
func (c *conn) caller() string {
	if c.origin == "" {
		return agent.LocalOrigin
	}
	return c.origin
}
