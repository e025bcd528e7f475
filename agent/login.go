package agent

import (
	"context"
	"errors"

	"github.com/tokenagent/tokenagent/token"
)

// LocalOrigin is the origin of connections without an Origin header.
const LocalOrigin = "local"

// Call is what every PIN-taking method starts from: who asks, for which
// token, with which PIN. It lives as long as the call; nothing keeps it.
type Call struct {
	Method          string // what the audit log names the call (the protocol method)
	Origin          string // LocalOrigin without an Origin header
	Token           string // token id
	PIN             string // the user PIN, or the SO PIN for UnlockPIN
	ConfirmFinalTry bool
}

// pinAttempt is one PIN-taking call in progress: it applies the throttle
// and writes the audit record, whatever the outcome.
type pinAttempt struct {
	a      *Agent
	ctx    context.Context
	call   Call
	rec    AuditRecord
	pinsOK bool // the token accepted the PIN
	// What the call will do to the token, which a token that cannot do it
	// refuses before any login: see token.Credentials.
	writes    bool
	generates token.KeyAlgorithm
	// For signing: the dataSha256 of each item, audited one line each, and
	// which were signed.
	items  []string
	signed []bool
}

func (a *Agent) attempt(ctx context.Context, call Call) *pinAttempt {
	return &pinAttempt{a: a, ctx: ctx, call: call, rec: AuditRecord{Origin: call.Origin, Method: call.Method, Token: call.Token}}
}

// run refuses the call when the origin is throttled on the token, else runs
// op, then counts a wrong PIN or a right one, audits, and maps the error.
// The check, op and the count happen in the origin's turn on the token, so
// that concurrent calls see each other's wrong PINs.
func (p *pinAttempt) run(op func() error) error {
	leave, err := p.a.throttle.enter(p.ctx, p.call.Origin, p.call.Token)
	if err != nil {
		return p.finish(err)
	}
	defer leave()
	now := p.a.opts.Now()
	if wait := p.a.throttle.blocked(p.call.Origin, p.call.Token, now); wait > 0 {
		err = &Error{
			Kind:       RateLimited,
			Message:    "too many wrong PINs for this token from this origin; try again later",
			RetryAfter: wait,
		}
	} else {
		err = op()
	}
	var pe *token.PINError
	switch {
	case errors.As(err, &pe) && pe.Problem == token.PINIncorrect:
		p.a.throttle.wrongPIN(p.call.Origin, p.call.Token, now)
	case err == nil || p.pinsOK:
		p.a.throttle.rightPIN(p.call.Origin, p.call.Token)
	}
	return p.finish(err)
}

// finish audits the call's outcome and returns err as an *Error.
func (p *pinAttempt) finish(err error) error {
	var ae *Error
	if err != nil {
		ae = classify(err)
	}
	p.audit(ae)
	if ae == nil {
		return nil
	}
	return ae
}

// login runs fn logged in with the call's PIN.
func (p *pinAttempt) login(fn func(s *token.Session) error) error {
	cred := token.Credentials{PIN: p.call.PIN, ConfirmFinalTry: p.call.ConfirmFinalTry, Writes: p.writes, Generates: p.generates}
	return p.a.hw.Login(p.ctx, p.call.Token, cred, func(s *token.Session) error {
		p.pinsOK = true
		p.rec.Serial = s.Info().Serial
		return fn(s)
	})
}

func (p *pinAttempt) audit(err *Error) {
	if p.a.opts.Audit == nil {
		return
	}
	p.rec.Time = p.a.opts.Now().UTC()
	p.rec.Outcome = "ok"
	if err != nil {
		p.rec.Outcome = err.Kind.String()
	}
	if p.rec.Serial == "" {
		p.rec.Serial = p.a.serialOf(p.ctx, p.call.Token)
	}
	if len(p.items) == 0 {
		p.a.opts.Audit.Audit(p.rec)
		return
	}
	recs := make([]AuditRecord, len(p.items))
	for i, h := range p.items {
		recs[i] = p.rec
		recs[i].DataSHA256 = h
		if p.signed[i] {
			recs[i].Outcome = "ok"
		}
	}
	p.a.opts.Audit.Audit(recs...)
}

// serialOf looks up a token's serial number for the audit log; empty when
// the token is not there.
func (a *Agent) serialOf(ctx context.Context, tokenID string) string {
	infos, err := a.hw.Tokens(ctx)
	if err != nil {
		return ""
	}
	for _, ti := range infos {
		if ti.ID == tokenID {
			return ti.Serial
		}
	}
	return ""
}

// AuditRefused records a call of an audited method that was refused before
// it reached the agent, for malformed params: the audit log has a line for
// every call. call.Token is empty when the request did not name one.
func (a *Agent) AuditRefused(ctx context.Context, call Call, kind Kind) {
	a.attempt(ctx, call).audit(&Error{Kind: kind})
}
