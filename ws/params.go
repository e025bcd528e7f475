package ws

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"

	"github.com/tokenagent/tokenagent/agent"
)

// pinMethod carries out a PIN-taking method, given its params and the call
// they make.
type pinMethod func(ctx context.Context, p paramSet, call agent.Call) (any, error)

// pinTaking makes the handler of a PIN-taking method: it reads the call
// (the token, the PIN in member pinName, confirmFinalTry, the connection's
// origin) and sees that a call refused for its params still leaves its line
// in the audit log; calls that reach the agent are audited there.
func (s *Server) pinTaking(method, pinName string, h pinMethod) handler {
	return func(ctx context.Context, c *conn, params json.RawMessage) (any, error) {
		p, err := readParams(params)
		var call agent.Call
		if err == nil {
			call, err = p.call(c, method, pinName)
		}
		var result any
		if err == nil {
			result, err = h(ctx, p, call)
		}
		var pe *paramsError
		if errors.As(err, &pe) {
			tokenID, _ := p.optionalString("token", "")
			s.agent.AuditRefused(ctx, agent.Call{Method: method, Origin: c.caller(), Token: tokenID}, agent.InvalidInput)
		}
		return result, err
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

// optionalStrings returns the array of strings member name; nil when absent.
func (p paramSet) optionalStrings(name string) ([]string, error) {
	if !p.present(name) {
		return nil, nil
	}
	var ss []string
	if kind(p[name]) != '[' || json.Unmarshal(p[name], &ss) != nil {
		return nil, invalid("%q must be an array of strings", name)
	}
	return ss, nil
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

// array returns the array member name, element by element.
func (p paramSet) array(name string) ([]json.RawMessage, error) {
	if !p.present(name) {
		return nil, invalid("missing %q", name)
	}
	var a []json.RawMessage
	if kind(p[name]) != '[' || json.Unmarshal(p[name], &a) != nil {
		return nil, invalid("%q must be an array", name)
	}
	return a, nil
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
	s, err := p.requiredString(name)
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

// call reads what every PIN-taking method starts from: the token and the
// PIN in member pinName, with the method and the connection's origin.
func (p paramSet) call(c *conn, method, pinName string) (agent.Call, error) {
	tokenID, err := p.requiredString("token")
	if err != nil {
		return agent.Call{}, err
	}
	pin, err := p.requiredString(pinName)
	if err != nil {
		return agent.Call{}, err
	}
	confirm, err := p.optionalBool("confirmFinalTry", false)
	if err != nil {
		return agent.Call{}, err
	}
	return agent.Call{Method: method, Origin: c.caller(), Token: tokenID, PIN: pin, ConfirmFinalTry: confirm}, nil
}

// caller is the origin the agent knows the connection's calls by.
func (c *conn) caller() string {
	if c.origin == "" {
		return agent.LocalOrigin
	}
	return c.origin
}
