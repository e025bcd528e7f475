package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/tokenagent/tokenagent/agent"
)

// handler carries out one method. params is the request's params object, or
// nil when absent. ctx ends when the connection closes. Errors should be
// *agent.Error; anything else is reported as INTERNAL.
type handler func(ctx context.Context, c *conn, params json.RawMessage) (any, error)

// method is one row of the method table: a protocol method and the
// Server's method that serves it. A PIN-taking method names the member
// that carries its PIN and is served through pinTaking (params.go). One
// whose PIN is optional has both: serve answers a call without the PIN
// member, withPIN one with it.
type method struct {
	name    string
	serve   func(s *Server, ctx context.Context, c *conn, params json.RawMessage) (any, error)
	pin     string // the PIN's member; set for PIN-taking methods only
	withPIN func(s *Server, ctx context.Context, p paramSet, call agent.Call) (any, error)
}

// methods is the method table: every method of docs/PROTOCOL.md section 4,
// in its order, and nothing else (TestMethodTableIsTheContract reads the
// contract to check). To add a method, document it there and add its row
// here; Methods, the dispatcher and the config's [[origin]] methods follow.
var methods = []method{
	{name: "agent.info", serve: (*Server).agentInfo},
	{name: "tokens.list", serve: (*Server).tokensList},
	{name: "certs.list", serve: (*Server).certsList},
	{name: "lifetime.check", serve: (*Server).lifetimeCheck},
	{name: "media.check", serve: (*Server).mediaCheck},
	{name: "keys.list", serve: (*Server).keysList, pin: "pin", withPIN: (*Server).keysListLoggedIn},
	{name: "keys.generate", pin: "pin", withPIN: (*Server).keysGenerate},
	{name: "csr.create", pin: "pin", withPIN: (*Server).csrCreate},
	{name: "certs.import", pin: "pin", withPIN: (*Server).certsImport},
	{name: "objects.delete", pin: "pin", withPIN: (*Server).objectsDelete},
	{name: "renewal.prepare", pin: "pin", withPIN: (*Server).renewalPrepare},
	{name: "renewal.complete", pin: "pin", withPIN: (*Server).renewalComplete},
	{name: "renewal.pending", serve: (*Server).renewalPending},
	{name: "renewal.cancel", pin: "pin", withPIN: (*Server).renewalCancel},
	{name: "pin.change", pin: "oldPin", withPIN: (*Server).pinChange},
	{name: "pin.unlock", pin: "soPin", withPIN: (*Server).pinUnlock},
	{name: "sign", pin: "pin", withPIN: (*Server).sign},
	{name: "sign.batch", pin: "pin", withPIN: (*Server).signBatch},
	{name: "events.subscribe", serve: (*Server).eventsSubscribe},
}

// Methods returns the names of the protocol's methods, in the order of
// docs/PROTOCOL.md section 4: the methods the server serves.
func Methods() []string {
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = m.name
	}
	return names
}

// methodTable binds the method table to s: the handler of each method by
// name. Methods that are not here answer METHOD_NOT_FOUND.
func (s *Server) methodTable() map[string]handler {
	table := make(map[string]handler, len(methods))
	for _, m := range methods {
		var withPIN, serve handler
		if m.pin != "" {
			withPIN = s.pinTaking(m.name, m.pin, func(ctx context.Context, p paramSet, call agent.Call) (any, error) {
				return m.withPIN(s, ctx, p, call)
			})
		}
		if m.serve != nil {
			serve = func(ctx context.Context, c *conn, params json.RawMessage) (any, error) {
				return m.serve(s, ctx, c, params)
			}
		}
		switch {
		case withPIN != nil && serve != nil:
			table[m.name] = func(ctx context.Context, c *conn, params json.RawMessage) (any, error) {
				p, err := readParams(params)
				defer p.clear() // the PIN, as it came
				if err == nil && (p.present(m.pin) || p.present("consent")) {
					return withPIN(ctx, c, params)
				}
				return serve(ctx, c, params)
			}
		case withPIN != nil:
			table[m.name] = withPIN
		default:
			table[m.name] = serve
		}
	}
	return table
}

func (s *Server) agentInfo(ctx context.Context, _ *conn, params json.RawMessage) (any, error) {
	if _, err := readParams(params); err != nil {
		return nil, err
	}
	return toInfo(s.agent.Info(ctx)), nil
}

func (s *Server) tokensList(ctx context.Context, _ *conn, params json.RawMessage) (any, error) {
	if _, err := readParams(params); err != nil {
		return nil, err
	}
	tokens, err := s.agent.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	return toTokens(tokens), nil
}

func (s *Server) certsList(ctx context.Context, _ *conn, params json.RawMessage) (any, error) {
	_, tokenID, err := readTokenParams(params)
	if err != nil {
		return nil, err
	}
	certs, err := s.agent.Certificates(ctx, tokenID)
	if err != nil {
		return nil, err
	}
	return toCerts(certs), nil
}

func (s *Server) lifetimeCheck(ctx context.Context, _ *conn, params json.RawMessage) (any, error) {
	p, tokenID, err := readTokenParams(params)
	if err != nil {
		return nil, err
	}
	at, err := p.optionalTime("at")
	if err != nil {
		return nil, err
	}
	report, err := s.agent.CheckLifetime(ctx, tokenID, at)
	if err != nil {
		return nil, err
	}
	return toLifetimeReport(report), nil
}

type mediaReportWire struct {
	Token     string  `json:"token"`
	Profile   *string `json:"profile"`
	Legacy    bool    `json:"legacy"`
	UpgradeTo *string `json:"upgradeTo"`
	// Extensions: what the media to upgrade to is, for people, and the
	// carry-over rule's months.
	UpgradeToDescription *string        `json:"upgradeToDescription"`
	CarryOverMonths      int            `json:"carryOverMonths"`
	Cert                 *string        `json:"cert"`
	Remaining            monthsDaysWire `json:"remaining"`
	CarryOver            monthsDaysWire `json:"carryOver"`
	Credit               monthsDaysWire `json:"credit"`
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
	certID, err := p.objectID("cert", false)
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
		UpgradeToDescription: nullable(r.UpgradeToDescription), CarryOverMonths: r.CarryOverMonths,
		Remaining: md(r.Remaining), CarryOver: md(r.CarryOver), Credit: md(r.Credit),
	}, nil
}

// paramSet is a params object by member name. Names match exactly; members
// a method does not know are ignored, for forward compatibility.
type paramSet map[string]json.RawMessage

// readParams decodes a params object; absent params are an empty set. The
// envelope check has already made sure params is an object.
func readParams(raw json.RawMessage) (paramSet, error) {
	p := paramSet{}
	if raw == nil {
		return p, nil
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, invalid("params must be an object")
	}
	return p, nil
}

// readTokenParams decodes the params of a method about one token, which
// names it in member token.
func readTokenParams(raw json.RawMessage) (paramSet, string, error) {
	p, err := readParams(raw)
	if err != nil {
		return nil, "", err
	}
	tokenID, err := p.tokenID()
	if err != nil {
		return nil, "", err
	}
	return p, tokenID, nil
}

// present reports whether a member is there and not null.
func (p paramSet) present(name string) bool {
	v, ok := p[name]
	return ok && kind(v) != 'n'
}

// requiredString returns the string member name.
func (p paramSet) requiredString(name string) (string, error) {
	if !p.present(name) {
		return "", invalid("missing %q", name)
	}
	v := p[name]
	if kind(v) != '"' {
		return "", invalid("%q must be a string", name)
	}
	// The frame is valid JSON: a string without escapes is its bytes
	// between the quotes. (Most are; base64 data always is.)
	if v = bytes.TrimSpace(v); !bytes.ContainsRune(v, '\\') {
		return string(v[1 : len(v)-1]), nil
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", invalid("%q must be a string", name)
	}
	return s, nil
}

// optionalTime returns the RFC 3339 time member name in UTC, or the zero
// time when it is absent or null.
func (p paramSet) optionalTime(name string) (time.Time, error) {
	if !p.present(name) {
		return time.Time{}, nil
	}
	var s string
	if kind(p[name]) != '"' || json.Unmarshal(p[name], &s) != nil {
		return time.Time{}, invalid("%q must be an RFC 3339 time string", name)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.IsZero() {
		return time.Time{}, invalid("%q is not an RFC 3339 time", name)
	}
	return t.UTC(), nil
}
