package agent

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/tokenagent/tokenagent/token"
)

// Consent is where the person approves a web page's call and types its
// PINs, on the agent's own page rather than the page that asks
// (PROTOCOL.md, "Consent"; the ws package serves it). A call with a
// Consent comes without PINs: the agent shows the person what the call
// does, from what it knows itself, and tries the PIN they type under the
// throttle and the safety rules, as it would a PIN the page sent. After a
// wrong PIN it asks again, within the throttle.
type Consent interface {
	// Ask shows req to the person and waits for their answer. It fails
	// with an *Error of kind ConsentDenied (they said no, or closed the
	// window), ConsentTimeout (no answer in time) or ConsentUnavailable
	// (no window showed the request), or with ctx's error. Ask is called
	// again, with req.Retry set, after a try the person may repeat.
	Ask(ctx context.Context, req ConsentRequest) (ConsentAnswer, error)
}

// ConsentAgent is the audit record's Consent when the person typed the
// PIN on the agent's consent page.
const ConsentAgent = "agent"

// ConsentRequest is what the person is shown of a call: what the agent
// knows, never what the page that asks says of itself.
type ConsentRequest struct {
	Origin string // who asks: the connection's origin, from the handshake (LocalOrigin without one)
	Method string // what the call does, as Call.Method names it
	Token  Token  // the token, as it is now: its PIN flags say which PIN the person types, and how
	SOPIN  bool   // the person types the SO PIN (pin.unlock), not the user PIN
	NewPIN bool   // and a new user PIN (pin.change, pin.unlock)

	Object      string            // the certificate or key id the call names, if any
	Certificate *Certificate      // the token's certificate with id Object, when there is one
	Delete      ObjectKind        // objects.delete: what goes; renewal.complete: DeleteCertificate when the replaced certificate goes
	Import      *x509.Certificate // certs.import, renewal.complete: the certificate stored
	Key         KeySpec           // keys.generate, renewal.prepare: the key made (Algorithm empty: the old key's)
	NewKey      bool              // a key pair is made
	Label       string            // the label given to what is made
	Subject     string            // csr.create: the request's subject (RFC 4514)
	Items       []string          // signing: the hex SHA-256 of each item, in order

	// Retry is why the last try failed, when the person may try again:
	// a wrong PIN (with its Tries), a PIN of the wrong length, or the
	// final try they did not confirm.
	Retry *Error
}

// ConsentAnswer is the person's approval: the PINs they typed, which the
// call clears when it is done with them.
type ConsentAnswer struct {
	PIN             []byte // the user PIN, or the SO PIN for pin.unlock; empty on a PIN pad or a token without login
	NewPIN          []byte // pin.change, pin.unlock
	ConfirmFinalTry bool   // they confirmed spending the final try
}

// consented runs a call whose PINs the person gives through the call's
// Consent: what cannot be tried now (the token gone, the throttle closed,
// the certificate to sign with missing) is refused before anyone is
// asked; then each answer is tried as try does, and a try the person may
// repeat (retryable) has its audit line and is asked again.
func (p *pinAttempt) consented(op func() error) error {
	for {
		req, err := p.consentRequest()
		if err == nil {
			err = p.throttled(p.a.opts.Now())
		}
		if err != nil {
			return p.finish(err)
		}
		ans, err := p.call.Consent.Ask(p.ctx, req)
		if err != nil {
			return p.finish(fmt.Errorf("waiting for the person's consent: %w", err))
		}
		p.call.PIN, p.newPIN, p.call.ConfirmFinalTry = ans.PIN, ans.NewPIN, ans.ConfirmFinalTry
		err = p.try(op)
		retry := retryable(err)
		if retry == nil || p.pinsOK {
			return p.finish(err)
		}
		p.clearPINs()
		p.audit(retry)
		p.shown.Retry = retry
	}
}

// retryable returns err as an *Error when it is one the person may try
// again after, within the same consent: a wrong PIN, a PIN the token
// could only refuse (its length), or the final try unconfirmed. Nil for
// any other outcome.
func retryable(err error) *Error {
	if err == nil {
		return nil
	}
	switch ae := classify(err); ae.Kind {
	case PINIncorrect, SOPINIncorrect, PINInvalid, PINFinalTry:
		return ae
	}
	return nil
}

// consentRequest returns what the consent page shows of the call now: the
// use case's part (shown) with the origin, the token as it is now and the
// certificate the call names.
func (p *pinAttempt) consentRequest() (ConsentRequest, error) {
	req := p.shown
	req.Origin, req.Method = p.call.Origin, p.call.Method
	tokens, err := p.a.Tokens(p.ctx)
	if err != nil {
		return req, err
	}
	found := false
	for _, t := range tokens {
		if t.ID == p.call.Token {
			req.Token, found = t, true
		}
	}
	if !found {
		return req, Errorf(TokenNotFound, "no token with id %s", p.call.Token)
	}
	// What the token cannot do (a write to a write-protected token, a key
	// type it does not make) is refused before the person types a PIN.
	if err := p.a.hw.Admit(p.ctx, p.call.Token, token.Credentials{Writes: p.writes, Generates: p.generates, SO: p.kind == soPIN}); err != nil {
		return req, err
	}
	if st := req.Token.PIN; p.kind == soPIN && st.SOLocked || p.kind == userPIN && st.Locked {
		// Asking for a PIN the token would refuse unread helps no one.
		return req, &token.PINError{Problem: token.PINLocked, SO: p.kind == soPIN, State: st}
	}
	for _, in := range p.inputs {
		req.Items = append(req.Items, in.sha256())
	}
	if req.Object == "" {
		return req, nil
	}
	certs, err := p.a.Certificates(p.ctx, p.call.Token)
	if err != nil {
		return req, err
	}
	for i := range certs {
		if certs[i].ID == req.Object {
			req.Certificate = &certs[i]
		}
	}
	if req.Certificate == nil && p.certRequired {
		return req, fmt.Errorf("certificate %s: %w", req.Object, token.ErrObjectNotFound)
	}
	return req, nil
}
