package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokenagent/tokenagent/token"
)

// LocalOrigin is the origin of connections without an Origin header.
const LocalOrigin = "local"

// Call is what every PIN-taking method starts from: who asks, for which
// token, with which PIN. It lives as long as the call; nothing keeps it.
type Call struct {
	Method string // what the audit log names the call (the protocol method)
	Origin string // LocalOrigin without an Origin header
	Token  string // token id
	// PIN is the user PIN, or the SO PIN for UnlockPIN. The method clears
	// it (and a new PIN it is given) when the call ends: the caller hands
	// over bytes no one else needs.
	PIN             []byte
	ConfirmFinalTry bool // the call asks to spend the PIN's final try
	// Attended: the call comes from where a person, and no web page,
	// decides: the agent's own page or a program on this computer.
	Attended bool
}

// finalTryConfirmed reports whether the call may spend a PIN's final try
// (PROTOCOL.md section 5): it asks to, and the person decided so where no
// web page can decide for them. A web page's confirmFinalTry alone does
// not count: a script adding it would spend the last try of a card without
// anyone choosing to. (A consent page of the agent's, where the person
// confirms for a web page's call, would be one more place that counts.)
func (c Call) finalTryConfirmed() bool {
	return c.ConfirmFinalTry && c.Attended
}

// pinAttempt is one PIN-taking call in progress: it applies the throttle
// and writes the audit record, whatever the outcome.
type pinAttempt struct {
	a      *Agent
	ctx    context.Context
	call   Call
	kind   pinKind // of call.PIN
	rec    AuditRecord
	pinsOK bool // the token accepted the PIN
	// What the call will do to the token, which a token that cannot do it
	// refuses before any login: see token.Credentials.
	writes    bool
	generates token.KeyAlgorithm
	// For signing: what is signed, audited one line each once the PIN
	// is accepted, and which items were signed. A batch that ends before
	// has one line for the whole call.
	inputs []SignInput
	batch  bool
	signed []bool
	// secrets are the PINs the call was given, cleared when it ends.
	secrets [][]byte
}

// attempt starts a PIN-taking call; newPINs are the new PINs it sets, which
// finish clears with the call's PIN.
func (a *Agent) attempt(ctx context.Context, call Call, newPINs ...[]byte) *pinAttempt {
	return &pinAttempt{a: a, ctx: ctx, call: call, secrets: append(newPINs, call.PIN),
		rec: AuditRecord{Origin: call.Origin, Method: call.Method, Token: call.Token}}
}

// run refuses the call when the throttle holds its kind of PIN on the
// token (for its origin, or for all), else runs op, then counts a wrong
// PIN or a right one, audits, and maps the error. The check, op and the
// count happen in the turn of the kind of PIN on the token, so that
// concurrent calls see each other's wrong PINs.
func (p *pinAttempt) run(op func() error) error {
	k := throttleKey{p.call.Token, p.kind}
	leave, err := p.a.throttle.enter(p.ctx, k)
	if err != nil {
		return p.finish(err)
	}
	defer leave()
	now := p.a.opts.Now()
	if wait, scope := p.a.throttle.blocked(k, p.call.Origin, now); scope != notThrottled {
		err = rateLimited(p.kind, scope, wait)
	} else {
		err = op()
	}
	var pe *token.PINError
	switch {
	case errors.As(err, &pe) && pe.Problem == token.PINIncorrect && pe.SO == (p.kind == soPIN):
		p.a.throttle.wrongPIN(k, p.call.Origin, now)
	case err == nil || p.pinsOK:
		p.a.throttle.rightPIN(k, p.call.Origin, now)
	}
	return p.finish(err)
}

// rateLimited is the error of a call the throttle refuses.
func rateLimited(kind pinKind, scope throttleScope, wait time.Duration) *Error {
	pins := "wrong PINs"
	if kind == soPIN {
		pins = "wrong SO PINs"
	}
	from := "from this origin"
	if scope == tokenThrottled {
		from = "from all origins together"
	}
	return &Error{Kind: RateLimited, RetryAfter: wait,
		Message: fmt.Sprintf("too many %s for this token %s; try again later", pins, from)}
}

// finish clears the call's PINs, audits its outcome and returns err as an
// *Error.
func (p *pinAttempt) finish(err error) error {
	for _, pin := range p.secrets {
		clear(pin)
	}
	var ae *Error
	if err != nil {
		ae = classify(err)
	}
	if ae != nil && ae.Kind == PINFinalTry {
		ae.FinalTryConfirmable = p.call.Attended
		if !p.call.Attended {
			ae.Message = "the token has one PIN try left, which a web page may not spend: " +
				"only the agent's own page or a program on this computer may use it"
		}
	}
	p.audit(ae)
	if ae == nil {
		return nil
	}
	return ae
}

// login runs fn logged in with the call's PIN.
func (p *pinAttempt) login(fn func(s *token.Session) error) error {
	cred := token.Credentials{PIN: p.call.PIN, ConfirmFinalTry: p.call.finalTryConfirmed(), Writes: p.writes, Generates: p.generates}
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
	if len(p.inputs) == 0 || p.batch && !p.pinsOK {
		p.a.opts.Audit.Audit(p.rec)
		return
	}
	recs := make([]AuditRecord, len(p.inputs))
	for i, in := range p.inputs {
		recs[i] = p.rec
		recs[i].DataSHA256 = in.sha256()
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
