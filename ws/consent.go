package ws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/agent"
)

// This file serves the consent flow (PROTOCOL.md, "Consent"). A
// PIN-taking call that carries consent instead of its PINs is held while
// the person answers on the consent page, GET /consent?n=NONCE on the
// agent's own origin, which the page that asks cannot read or drive. The
// consent page talks to the agent over a socket of its own,
// /consent/ws?n=NONCE, which only the agent's own origins may open:
// the agent sends it what the call does (from agent.ConsentRequest) and it
// answers with the PINs or a denial. Closing the window closes the socket,
// which denies the call.
//
// The call and the window meet at the nonce, whichever comes first: the
// client opens the window before it sends the call, and a window may
// come before its call or after. A nonce is taken by one call on one
// connection, once: a second call with it is refused, a second window
// shows an error, and a nonce whose call has ended is remembered for a
// while and shows an error too. Nothing in the window approves any call
// but the one whose nonce it carries.

// Defaults and bounds of the consent flow.
const (
	DefaultConsentTimeout = 120 * time.Second
	// consentOpenWait bounds how long a held call waits for its window
	// (CONSENT_UNAVAILABLE after), and a window for its call: the
	// window is opened in the same user action as the call is sent, so
	// either comes within moments of the other. Never longer than the
	// consent timeout.
	consentOpenWait = 15 * time.Second
	// usedNonceMemory is how long an ended call's nonce is remembered
	// as used, and maxUsedNonces how many at most, the oldest going
	// first: a nonce has at least 128 random bits, and remembering it
	// only keeps a second window or a second call from using it.
	usedNonceMemory = 10 * time.Minute
	maxUsedNonces   = 4096
	// minNonce and maxNonce bound a nonce's length, in characters of
	// the base64url alphabet: 22 carry 128 bits.
	minNonce = 22
	maxNonce = 128
	// maxDescription bounds consent.description, in characters.
	maxDescription = 500
	// maxConsentFrame bounds a frame from the consent page: an answer
	// with two PINs at their bound fits.
	maxConsentFrame = 4 * maxPIN
)

// The errors a consent window shows instead of a request (the "error"
// message's error member).
const (
	consentUnknown   = "unknown"   // no call has this nonce
	consentEnded     = "ended"     // the nonce's call has ended
	consentElsewhere = "elsewhere" // another window shows the call
)

// validNonce reports whether s has the form of a nonce: minNonce to
// maxNonce characters of the base64url alphabet.
func validNonce(s string) bool {
	if len(s) < minNonce || len(s) > maxNonce {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// consentParams reads the consent member: the nonce, and the site's own
// description of the call, which the window shows as the site's words.
func (p paramSet) consentParams() (nonce, description string, err error) {
	c, err := p.object("consent")
	if err != nil {
		return "", "", err
	}
	if nonce, err = c.requiredString("nonce"); err != nil {
		return "", "", invalid(`"consent.nonce" must be a string`)
	}
	if !validNonce(nonce) {
		return "", "", invalid(`"consent.nonce" must be %d to %d characters of the base64url alphabet`, minNonce, maxNonce)
	}
	if description, err = c.optionalString("description", ""); err != nil {
		return "", "", invalid(`"consent.description" must be a string`)
	}
	if utf8.RuneCountInString(description) > maxDescription {
		return "", "", invalid(`"consent.description" must hold at most %d characters`, maxDescription)
	}
	return nonce, description, nil
}

// pinEntryRefuses says why the origin's pin_entry refuses a call with
// consent or one without; "" when it does not. Local programs and the
// agent's own page may do either.
func (s *Server) pinEntryRefuses(origin string, consent bool) string {
	if origin == "" || s.isOwn(origin) {
		return ""
	}
	switch entry := s.pinEntry[origin]; {
	case entry == PINEntryAgent && !consent:
		return "this origin may not send PINs: the person types them on the agent's consent page (pin_entry = \"agent\"); send consent instead"
	case entry == PINEntryPage && consent:
		return "this origin may not ask for consent on the agent's page (pin_entry = \"page\")"
	}
	return ""
}

// consentHub is where held calls and consent windows meet, by nonce. It
// is safe for concurrent use.
type consentHub struct {
	mu       sync.Mutex
	meetings map[string]*meeting
	used     map[string]time.Time // nonces of ended calls, with when they ended
}

// meeting is one nonce's call and window: the first to come makes it,
// the second completes it and closes met.
type meeting struct {
	call *heldCall     // nil until the call comes
	page *consentPage  // nil until a window comes
	met  chan struct{} // closed when both are there
}

func newConsentHub() *consentHub {
	return &consentHub{meetings: map[string]*meeting{}, used: map[string]time.Time{}}
}

// errNonceUsed refuses a call whose nonce another call has taken.
var errNonceUsed = invalid(`"consent.nonce" has been used: make a new one for every call`)

// hold registers call under its nonce; the window may have come already.
func (h *consentHub) hold(call *heldCall) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.meetings[call.nonce]
	switch {
	case h.isUsed(call.nonce, time.Now()), m != nil && m.call != nil:
		return errNonceUsed
	case m == nil:
		m = &meeting{met: make(chan struct{})}
		h.meetings[call.nonce] = m
	default:
		defer close(m.met) // the window waits for it
	}
	m.call, call.meeting = call, m
	return nil
}

// arrive registers a window for nonce. It returns the meeting, or why
// the window shows nothing.
func (h *consentHub) arrive(nonce string, page *consentPage) (*meeting, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.meetings[nonce]
	switch {
	case h.isUsed(nonce, time.Now()):
		return nil, consentEnded
	case m != nil && m.page != nil:
		return nil, consentElsewhere
	case m == nil:
		m = &meeting{met: make(chan struct{})}
		h.meetings[nonce] = m
	default:
		defer close(m.met) // the call waits for it
	}
	m.page = page
	return m, ""
}

// leave drops a window's meeting that no call came to.
func (h *consentHub) leave(nonce string, m *meeting) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.meetings[nonce] == m && m.call == nil {
		delete(h.meetings, nonce)
	}
}

// end retires a call's nonce: it is remembered as used, and its meeting
// goes.
func (h *consentHub) end(nonce string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.meetings, nonce)
	now := time.Now()
	for n, at := range h.used {
		if now.Sub(at) > usedNonceMemory {
			delete(h.used, n)
		}
	}
	for len(h.used) >= maxUsedNonces {
		oldest, at := "", now
		for n, t := range h.used {
			if t.Before(at) {
				oldest, at = n, t
			}
		}
		delete(h.used, oldest)
	}
	h.used[nonce] = now
}

// isUsed reports whether nonce's call has ended lately. h.mu must be held.
func (h *consentHub) isUsed(nonce string, now time.Time) bool {
	at, ok := h.used[nonce]
	return ok && now.Sub(at) <= usedNonceMemory
}

// heldCall is a call waiting for the person: the agent.Consent of its
// agent.Call. Its methods run on the call's goroutine.
type heldCall struct {
	s           *Server
	nonce       string
	description string
	origin      string // the caller's, for the log
	since       time.Time
	meeting     *meeting
	seq         int // of the last request sent to the window
}

var _ agent.Consent = (*heldCall)(nil)

// openWait is how long a call waits for its window, and a window for its
// call.
func (s *Server) openWait() time.Duration { return min(consentOpenWait, s.cfg.ConsentTimeout) }

// Ask sends req to the window, once it has come, and waits for its
// answer.
func (c *heldCall) Ask(ctx context.Context, req agent.ConsentRequest) (agent.ConsentAnswer, error) {
	page, err := c.window(ctx)
	if err != nil {
		return agent.ConsentAnswer{}, err
	}
	c.seq++
	msg := toConsentRequest(req, c.description, c.seq, c.s.cfg.ConsentTimeout)
	if err := page.send(msg); err != nil {
		return agent.ConsentAnswer{}, agent.Errorf(agent.ConsentDenied, "the consent window was closed")
	}
	timer := time.NewTimer(c.s.cfg.ConsentTimeout)
	defer timer.Stop()
	for {
		select {
		case ans := <-page.answers:
			if ans.seq != c.seq {
				ans.clear() // an answer to an earlier request
				continue
			}
			if ans.deny {
				return agent.ConsentAnswer{}, agent.Errorf(agent.ConsentDenied, "the person denied the request on the consent page")
			}
			return ans.answer, nil
		case <-page.gone:
			return agent.ConsentAnswer{}, agent.Errorf(agent.ConsentDenied, "the consent window was closed")
		case <-timer.C:
			return agent.ConsentAnswer{}, agent.Errorf(agent.ConsentTimeout, "no answer on the consent page within %v", c.s.cfg.ConsentTimeout)
		case <-ctx.Done():
			return agent.ConsentAnswer{}, ctx.Err()
		}
	}
}

// window waits until the call's window has come, for openWait since the
// call came.
func (c *heldCall) window(ctx context.Context) (*consentPage, error) {
	select {
	case <-c.meeting.met: // asked again, after a try
		return c.meeting.page, nil
	default:
	}
	timer := time.NewTimer(c.s.openWait() - time.Since(c.since))
	defer timer.Stop()
	select {
	case <-c.meeting.met:
		return c.meeting.page, nil
	case <-timer.C:
		return nil, agent.Errorf(agent.ConsentUnavailable, "no consent window showed the request within %v", c.s.openWait())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// finish ends the call: its window, if it came, is told the outcome and
// closed, and the nonce is used up.
func (c *heldCall) finish(err error) {
	c.s.consents.end(c.nonce)
	select {
	case <-c.meeting.met:
	default:
		return // no window came
	}
	done := consentDoneWire{Type: "done", Outcome: "ok"}
	if err != nil {
		e := errorFor(err)
		done.Outcome, done.Message = e.Data.Reason, e.Message
	}
	_ = c.meeting.page.send(done) // a window closed already has nothing to show it on
	c.meeting.page.close(websocket.CloseNormalClosure, "done")
}

// consentPage is a consent window's socket. The handler that upgraded it
// reads; the call it shows writes, as does the handler before any call
// has come.
type consentPage struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
	answers chan consentReply // the window's answers, read by Ask
	gone    chan struct{}     // closed when the socket has ended
}

// consentReply is one answer of a window: to request seq, a denial or
// the person's approval.
type consentReply struct {
	seq    int
	deny   bool
	answer agent.ConsentAnswer
}

func (r consentReply) clear() {
	clear(r.answer.PIN)
	clear(r.answer.NewPIN)
}

func (p *consentPage) send(msg any) error {
	frame, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	_ = p.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return p.ws.WriteMessage(websocket.TextMessage, frame)
}

// close sends a close frame and closes the socket, which ends the
// handler's reading.
func (p *consentPage) close(code int, text string) {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	_ = p.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(writeWait))
	_ = p.ws.Close()
}

// serveConsentSocket serves /consent/ws?n=NONCE for the consent page: only
// the agent's own origins may open it, and it takes a place among the own
// page's connections.
func (s *Server) serveConsentSocket(w http.ResponseWriter, r *http.Request) {
	origin, ok := s.originAllowed(r)
	if !ok || !s.isOwn(origin) {
		s.refuse(w, r, http.StatusForbidden, "origin not allowed for the consent socket")
		return
	}
	nonce := r.URL.Query().Get("n")
	if !validNonce(nonce) {
		http.Error(w, "bad nonce", http.StatusBadRequest)
		return
	}
	pl := s.placeFor(origin)
	if refused := s.reserve(pl); refused != "" {
		s.refuse(w, r, http.StatusServiceUnavailable, refused)
		return
	}
	defer s.release(pl)
	wsc, err := s.consentUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	wsc.SetReadLimit(maxConsentFrame)
	page := &consentPage{ws: wsc, answers: make(chan consentReply, 1), gone: make(chan struct{})}
	defer close(page.gone)
	m, why := s.consents.arrive(nonce, page)
	if m == nil || !s.awaitCall(nonce, m) {
		if why == "" {
			why = consentUnknown
		}
		_ = page.send(consentErrorWire{Type: "error", Error: why}) // closing anyway
		page.close(websocket.ClosePolicyViolation, why)
		return
	}
	s.log.Debug("consent window opened", "origin", m.call.origin)
	page.read()
}

// awaitCall waits, for openWait, until the call with nonce has come to
// the window's meeting m. False when none came.
func (s *Server) awaitCall(nonce string, m *meeting) bool {
	timer := time.NewTimer(s.openWait())
	defer timer.Stop()
	select {
	case <-m.met:
		return true
	case <-timer.C:
	case <-s.shutdown:
	}
	s.consents.leave(nonce, m)
	select {
	case <-m.met: // it came as the wait ended
		return true
	default:
		return false
	}
}

// read reads the window's answers until the socket ends. A frame that is
// not an answer is dropped.
func (p *consentPage) read() {
	for {
		_, frame, err := p.ws.ReadMessage()
		if err != nil {
			return
		}
		reply, ok := parseConsentReply(frame)
		clear(frame) // the reply holds what it needs: no PIN stays here
		if !ok {
			continue
		}
		select {
		case p.answers <- reply:
		default:
			reply.clear() // one is waiting already
		}
	}
}

// parseConsentReply reads an answer of the consent page:
// {"type":"approve","seq":N,"pin"?,"newPin"?,"confirmFinalTry"?} or
// {"type":"deny","seq":N}. The PINs are left where they were decoded,
// for the call to clear.
func parseConsentReply(frame []byte) (consentReply, bool) {
	var p paramSet
	if json.Unmarshal(frame, &p) != nil || p == nil {
		return consentReply{}, false
	}
	var reply consentReply
	typ, err := p.requiredString("type")
	if err == nil {
		err = json.Unmarshal(p["seq"], &reply.seq)
	}
	if err != nil {
		p.clear()
		return consentReply{}, false
	}
	switch typ {
	case "deny":
		reply.deny = true
	case "approve":
		pins := []struct {
			name string
			to   *[]byte
		}{{"pin", &reply.answer.PIN}, {"newPin", &reply.answer.NewPIN}}
		for _, m := range pins {
			if !p.present(m.name) {
				continue
			}
			if *m.to, err = p.pin(m.name); err != nil {
				p.clear()
				return consentReply{}, false
			}
		}
		reply.answer.ConfirmFinalTry, err = p.optionalBool("confirmFinalTry", false)
	default:
		err = errors.New("unknown type")
	}
	if err != nil {
		p.clear()
		return consentReply{}, false
	}
	return reply, true
}

// The consent socket's messages to the window.

type consentErrorWire struct {
	Type  string `json:"type"` // "error"
	Error string `json:"error"`
}

type consentDoneWire struct {
	Type    string `json:"type"`    // "done"
	Outcome string `json:"outcome"` // "ok" or the call's error reason
	Message string `json:"message,omitempty"`
}

type consentRequestWire struct {
	Type        string          `json:"type"` // "request"
	Seq         int             `json:"seq"`
	ExpiresIn   int             `json:"expiresIn"` // seconds the window has for an answer
	Origin      string          `json:"origin"`
	Method      string          `json:"method"`
	Description *string         `json:"description"` // the site's own words
	Token       tokenWire       `json:"token"`
	PIN         string          `json:"pin"` // which PIN the person types: "user" or "so"
	NewPIN      bool            `json:"newPin"`
	Object      *string         `json:"object"`
	Certificate *consentCert    `json:"certificate"`
	Delete      *string         `json:"delete"`
	Import      *consentCert    `json:"import"`
	Key         *consentKeyWire `json:"key"`
	Label       *string         `json:"label"`
	Subject     *string         `json:"subject"`
	Items       []string        `json:"items"`
	Retry       *errorObject    `json:"retry"`
}

// consentCert is what the window shows of a certificate.
type consentCert struct {
	Subject      string `json:"subject"`
	Issuer       string `json:"issuer"`
	SerialNumber string `json:"serialNumber"`
	NotBefore    string `json:"notBefore"`
	NotAfter     string `json:"notAfter"`
	SHA256       string `json:"sha256"`
}

type consentKeyWire struct {
	Algorithm *string `json:"algorithm"` // null: the old key's
	ParamSet  *string `json:"paramSet"`
}

func toConsentCert(c agent.Certificate) *consentCert {
	w := toCert(c)
	return &consentCert{Subject: w.Subject, Issuer: w.Issuer, SerialNumber: w.SerialNumber, NotBefore: w.NotBefore, NotAfter: w.NotAfter, SHA256: w.SHA256}
}

func toConsentRequest(req agent.ConsentRequest, description string, seq int, timeout time.Duration) consentRequestWire {
	out := consentRequestWire{
		Type: "request", Seq: seq, ExpiresIn: int(timeout / time.Second),
		Origin: req.Origin, Method: req.Method, Description: nullable(description),
		Token: toToken(req.Token), PIN: "user", NewPIN: req.NewPIN,
		Object: nullable(req.Object), Delete: nullable(string(req.Delete)),
		Label: nullable(req.Label), Subject: nullable(req.Subject), Items: nonNil(req.Items),
	}
	if req.SOPIN {
		out.PIN = "so"
	}
	if req.Certificate != nil {
		out.Certificate = toConsentCert(*req.Certificate)
	}
	if req.Import != nil {
		sum := sha256.Sum256(req.Import.Raw)
		out.Import = toConsentCert(agent.Certificate{Cert: req.Import, SHA256: hex.EncodeToString(sum[:])})
	}
	if req.NewKey {
		out.Key = &consentKeyWire{Algorithm: nullable(string(req.Key.Algorithm)), ParamSet: nullable(req.Key.ParamSet)}
	}
	if req.Retry != nil {
		e := errorFor(req.Retry)
		out.Retry = &e
	}
	return out
}
