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
	// Consent, when set, is where the person approves the call and types
	// its PINs (consent.go): the call comes without them, and PIN,
	// the new PIN and ConfirmFinalTry are the person's answer.
	Consent Consent
}

// finalTryConfirmed reports whether the call may spend a PIN's final try
// (PROTOCOL.md section 5): it asks to, and the person decided so where no
// web page can decide for them: the agent's own page, a program on this
// computer, or the consent page, whose answer ConfirmFinalTry is then. A
// web page's confirmFinalTry alone does not count: a script adding it
// would spend the last try of a card without anyone choosing to.
func (c Call) finalTryConfirmed() bool {
	return c.ConfirmFinalTry && c.personDecides()
}

// personDecides reports whether a person, and no web page, answers for
// the call's final try.
func (c Call) personDecides() bool {
	return c.Attended || c.Consent != nil
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
	// newPIN is the new user PIN pin.change and pin.unlock set, cleared
	// with the call's PIN when the call ends.
	newPIN []byte
	// certRequired: the call cannot be made without the certificate
	// shown.Object, so a consent is not asked for when it is missing.
	certRequired bool
	// shown is what the consent page shows of the call, which the use
	// case fills in beside what every call shows (consent.go).
	shown ConsentRequest
}

// attempt starts a PIN-taking call; newPIN is the new PIN it sets, if
// any, which finish clears with the call's PIN.
func (a *Agent) attempt(ctx context.Context, call Call, newPIN ...[]byte) *pinAttempt {
	p := &pinAttempt{a: a, ctx: ctx, call: call,
		rec: AuditRecord{Origin: call.Origin, Method: call.Method, Token: call.Token}}
	if len(newPIN) > 0 {
		p.newPIN = newPIN[0]
	}
	if call.Consent != nil {
		p.rec.Consent = ConsentAgent
	}
	return p
}

// run refuses the call when the throttle holds its kind of PIN on the
// token (for its origin, or for all), else runs op, then counts a wrong
// PIN or a right one, audits, and maps the error. A call with a Consent
// first asks the person for its PINs, and again after a wrong one
// (consent.go).
func (p *pinAttempt) run(op func() error) error {
	if p.call.Consent != nil {
		return p.consented(op)
	}
	return p.finish(p.try(op))
}

// try is one try of the call's PIN: the throttle's check, op and the
// count happen in the turn of the kind of PIN on the token, so that
// concurrent calls see each other's wrong PINs.
func (p *pinAttempt) try(op func() error) error {
	k := p.throttleKey()
	leave, err := p.a.throttle.enter(p.ctx, k)
	if err != nil {
		return err
	}
	defer leave()
	now := p.a.opts.Now()
	if err := p.throttled(now); err != nil {
		return err
	}
	err = op()
	var pe *token.PINError
	switch {
	case errors.As(err, &pe) && pe.Problem == token.PINIncorrect && pe.SO == (p.kind == soPIN):
		p.a.throttle.wrongPIN(k, p.call.Origin, now)
	case err == nil || p.pinsOK:
		p.a.throttle.rightPIN(k, p.call.Origin, now)
	}
	return err
}

func (p *pinAttempt) throttleKey() throttleKey { return throttleKey{p.call.Token, p.kind} }

// throttled returns the RateLimited error when the throttle holds the
// call's kind of PIN on the token for its origin, or for all; else nil.
func (p *pinAttempt) throttled(now time.Time) error {
	if wait, scope := p.a.throttle.blocked(p.throttleKey(), p.call.Origin, now); scope != notThrottled {
		return rateLimited(p.kind, scope, wait)
	}
	return nil
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
	p.clearPINs()
	var ae *Error
	if err != nil {
		ae = classify(err)
	}
	if ae != nil && ae.Kind == PINFinalTry {
		ae.FinalTryConfirmable = p.call.personDecides()
		if !p.call.personDecides() {
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

// clearPINs overwrites the call's PINs with zeros.
func (p *pinAttempt) clearPINs() {
	clear(p.call.PIN)
	clear(p.newPIN)
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
