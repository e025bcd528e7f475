package ws

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The consent flow over the sockets, as the consent page and a portal
// use them: the portal's call on /ws, the page's on /consent/ws.

const portalOrigin = "https://a.example"

// consentWindow is the consent page's socket.
type consentWindow struct {
	t  *testing.T
	ws *websocket.Conn
}

// newNonce returns a fresh nonce, as the client makes one.
func newNonce(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ownOrigin is the agent's own origin, the consent page's.
func (lc *lifecycle) ownOrigin() string { return "http://" + lc.ts.host() }

// openWindow opens the consent socket for nonce from the agent's own
// origin, as the consent page does.
func (lc *lifecycle) openWindow(nonce string) *consentWindow {
	lc.t.Helper()
	h := http.Header{"Origin": {lc.ownOrigin()}}
	wsc, resp, err := websocket.DefaultDialer.Dial("ws://"+lc.ts.host()+"/consent/ws?n="+nonce, h)
	if err != nil {
		lc.t.Fatalf("opening the consent socket: %v (%v)", err, resp)
	}
	lc.t.Cleanup(func() { _ = wsc.Close() })
	return &consentWindow{t: lc.t, ws: wsc}
}

// next reads the window's next message.
func (w *consentWindow) next() map[string]any {
	w.t.Helper()
	_ = w.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, frame, err := w.ws.ReadMessage()
	if err != nil {
		w.t.Fatalf("reading the consent socket: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(frame, &m); err != nil {
		w.t.Fatalf("consent message %s: %v", frame, err)
	}
	return m
}

// expect reads the next message and checks its type.
func (w *consentWindow) expect(typ string) map[string]any {
	w.t.Helper()
	m := w.next()
	if m["type"] != typ {
		w.t.Fatalf("consent message %v, want type %s", m, typ)
	}
	return m
}

// answer sends the window's answer to request req: "deny", or "approve"
// with the members given.
func (w *consentWindow) answer(req map[string]any, typ string, members map[string]any) {
	w.t.Helper()
	msg := map[string]any{"type": typ, "seq": req["seq"]}
	for k, v := range members {
		msg[k] = v
	}
	if err := w.ws.WriteJSON(msg); err != nil {
		w.t.Fatalf("answering: %v", err)
	}
}

// consentSign is a sign call of alice's certificate 01 over data with consent.
func (lc *lifecycle) consentSign(nonce string, data []byte) map[string]any {
	return map[string]any{"token": lc.tokens["alice"], "cert": "01", "data": base64.StdEncoding.EncodeToString(data),
		"consent": map[string]any{"nonce": nonce, "description": "Contract 42"}}
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestConsentSign(t *testing.T) {
	lc := newLifecycle(t, false)
	portal := lc.dial(portalOrigin)
	data := []byte("I agree to the terms.")

	for _, order := range []string{"call first", "window first"} {
		t.Run(order, func(t *testing.T) {
			lc.t, portal.t = t, t
			nonce := newNonce(t)
			var w *consentWindow
			if order == "window first" {
				w = lc.openWindow(nonce)
			}
			id := portal.send("sign", lc.consentSign(nonce, data))
			if w == nil {
				w = lc.openWindow(nonce)
			}
			req := w.expect("request")
			cert, _ := req["certificate"].(map[string]any)
			tok, _ := req["token"].(map[string]any)
			if req["origin"] != portalOrigin || req["method"] != "sign" || req["pin"] != "user" || req["description"] != "Contract 42" ||
				fmt.Sprint(req["items"]) != fmt.Sprint([]any{hexSHA256(data)}) || tok["label"] != "alice" ||
				cert["subject"] != "CN=Alice,O=Example" || cert["issuer"] != "CN=Lifecycle CA" || cert["notAfter"] == nil {
				t.Fatalf("the consent page is shown %v", req)
			}
			w.answer(req, "approve", map[string]any{"pin": lcUserPIN})
			r := portal.reply("sign", id)
			if r.Error != nil {
				t.Fatalf("sign with consent: %+v", r.Error)
			}
			var sig struct{ Signature []byte }
			if err := json.Unmarshal(r.Result, &sig); err != nil {
				t.Fatal(err)
			}
			verifyAlice(t, lc, portal, data, sig.Signature)
			if done := w.expect("done"); done["outcome"] != "ok" {
				t.Errorf("the window is told %v", done)
			}
		})
	}
	lc.t, portal.t = t, t
	for _, line := range lc.auditLines() {
		if line["method"] == "sign" && (line["consent"] != "agent" || line["outcome"] != "ok" || line["origin"] != portalOrigin || line["dataSha256"] != hexSHA256(data)) {
			t.Errorf("audit line %v", line)
		}
	}
	// What the agent received from the portal: no PIN among the members.
	if logs := lc.logs.String(); !regexp.MustCompile(`msg=params origin=https://a.example .* method=sign members="\[cert consent data token\]"`).MatchString(logs) {
		t.Errorf("the debug log does not show the members received:\n%s", logs)
	}
}

// TestConsentBatch: the window shows the SHA-256 of every item of a
// sign.batch, and the audit log has a line per item.
func TestConsentBatch(t *testing.T) {
	lc := newLifecycle(t, false)
	portal := lc.dial(portalOrigin)
	texts := []string{"one", "two", "three"}
	var items []map[string]any
	var want []any
	for _, s := range texts {
		items = append(items, map[string]any{"data": base64.StdEncoding.EncodeToString([]byte(s))})
		want = append(want, hexSHA256([]byte(s)))
	}
	nonce := newNonce(t)
	id := portal.send("sign.batch", map[string]any{"token": lc.tokens["alice"], "cert": "01", "items": items, "consent": map[string]any{"nonce": nonce}})
	w := lc.openWindow(nonce)
	req := w.expect("request")
	if req["method"] != "sign.batch" || fmt.Sprint(req["items"]) != fmt.Sprint(want) || req["description"] != nil {
		t.Fatalf("the consent page is shown %v", req)
	}
	w.answer(req, "approve", map[string]any{"pin": lcUserPIN})
	r := portal.reply("sign.batch", id)
	if r.Error != nil {
		t.Fatalf("sign.batch with consent: %+v", r.Error)
	}
	var out struct{ Signatures []struct{ Signature []byte } }
	if err := json.Unmarshal(r.Result, &out); err != nil || len(out.Signatures) != len(texts) {
		t.Fatalf("result %s: %v", r.Result, err)
	}
	for i, s := range texts {
		verifyAlice(t, lc, portal, []byte(s), out.Signatures[i].Signature)
	}
	var audited []any
	for _, line := range lc.auditLines() {
		if line["method"] == "sign.batch" && line["consent"] == "agent" && line["outcome"] == "ok" {
			audited = append(audited, line["dataSha256"])
		}
	}
	if fmt.Sprint(audited) != fmt.Sprint(want) {
		t.Errorf("audited items %v, want %v", audited, want)
	}
}

// verifyAlice checks an ECDSA signature over data with alice's certificate 01.
func verifyAlice(t *testing.T, lc *lifecycle, c *client, data, sig []byte) {
	t.Helper()
	certs := c.result("certs.list", map[string]any{"token": lc.tokens["alice"]})["certificates"].([]any)
	if len(certs) != 1 {
		t.Fatalf("alice has %d certificates, want 1", len(certs))
	}
	der, _ := base64.StdEncoding.DecodeString(certs[0].(map[string]any)["der"].(string))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), sum[:], sig) {
		t.Errorf("the signature does not verify with %v", cert.Subject)
	}
}

// TestConsentRefused: the person denies, closes the window, or mistypes
// the PIN until the throttle ends the consent.
func TestConsentRefused(t *testing.T) {
	lc := newLifecycle(t, false)
	data := []byte("refused")
	for _, tc := range []struct {
		name   string
		origin string
		act    func(w *consentWindow, req map[string]any)
		code   int
		reason string
	}{
		{"deny", portalOrigin, func(w *consentWindow, req map[string]any) { w.answer(req, "deny", nil) }, 1050, "CONSENT_DENIED"},
		{"window closed", portalOrigin, func(w *consentWindow, _ map[string]any) { _ = w.ws.Close() }, 1050, "CONSENT_DENIED"},
		{"wrong PINs until the throttle", "https://b.example", func(w *consentWindow, req map[string]any) {
			for i := range 3 {
				w.answer(req, "approve", map[string]any{"pin": lcWrongPIN})
				if i == 2 {
					break
				}
				req = w.expect("request")
				if retry, _ := req["retry"].(map[string]any); retry["data"].(map[string]any)["reason"] != "PIN_INCORRECT" {
					w.t.Fatalf("after wrong PIN %d the window shows %v", i+1, req)
				}
			}
		}, 1031, "RATE_LIMITED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc.t = t
			portal := lc.dial(tc.origin)
			nonce := newNonce(t)
			id := portal.send("sign", lc.consentSign(nonce, data))
			w := lc.openWindow(nonce)
			tc.act(w, w.expect("request"))
			wantError(t, portal.reply("sign", id), tc.code, tc.reason)
			if tc.name != "window closed" {
				if done := w.expect("done"); done["outcome"] != tc.reason {
					t.Errorf("the window is told %v", done)
				}
			}
			portal.stillServes()
		})
	}
	lc.t = t
	outcomes := map[string]int{}
	for _, line := range lc.auditLines() {
		if line["consent"] != "agent" {
			t.Errorf("audit line without consent: %v", line)
		}
		outcomes[line["outcome"]]++
	}
	if want := map[string]int{"CONSENT_DENIED": 2, "PIN_INCORRECT": 3, "RATE_LIMITED": 1}; fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Errorf("audit outcomes %v, want %v", outcomes, want)
	}
}

// TestConsentRefusedBeforeAsking: a call the agent would refuse anyway is
// answered at once, no window having shown it (its nonce's window then
// says the call ended), so the person never types a PIN for nothing.
func TestConsentRefusedBeforeAsking(t *testing.T) {
	lc := newLifecycle(t, false)
	consent := func(nonce string) map[string]any { return map[string]any{"nonce": nonce} }
	for _, tc := range []struct {
		name   string
		method string
		params map[string]any
		code   int
		reason string
	}{
		{"a key type the token does not make", "keys.generate",
			map[string]any{"token": lc.tokens["alice"], "algorithm": "GOST-2012-256"}, 1020, "MECHANISM_UNSUPPORTED"},
		{"no such token", "sign", map[string]any{"token": unknownToken, "cert": "01", "data": "AA=="}, 1001, "TOKEN_NOT_FOUND"},
		{"no such certificate", "sign", map[string]any{"token": lc.tokens["alice"], "cert": "99", "data": "AA=="}, 1002, "OBJECT_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc.t = t
			portal := lc.dial(portalOrigin)
			nonce := newNonce(t)
			tc.params["consent"] = consent(nonce)
			wantError(t, portal.call(tc.method, tc.params), tc.code, tc.reason)
			if e := lc.openWindow(nonce).expect("error"); e["error"] != "ended" {
				t.Errorf("the refused call's window shows %v, want that it ended", e)
			}
		})
	}
}

// TestConsentWrongPINRetry: a wrong PIN shows in the window, which tries
// again within the same consent.
func TestConsentWrongPINRetry(t *testing.T) {
	lc := newLifecycle(t, false)
	portal := lc.dial(portalOrigin)
	nonce := newNonce(t)
	data := []byte("retry")
	id := portal.send("sign", lc.consentSign(nonce, data))
	w := lc.openWindow(nonce)
	req := w.expect("request")
	if req["retry"] != nil {
		t.Fatalf("the first request shows a retry: %v", req)
	}
	w.answer(req, "approve", map[string]any{"pin": lcWrongPIN})
	req = w.expect("request")
	retry, _ := req["retry"].(map[string]any)
	if data, _ := retry["data"].(map[string]any); data["reason"] != "PIN_INCORRECT" || data["countLow"] == nil {
		t.Fatalf("after a wrong PIN the window shows %v", req)
	}
	w.answer(req, "approve", map[string]any{"pin": lcUserPIN})
	if r := portal.reply("sign", id); r.Error != nil {
		t.Fatalf("sign after the retry: %+v", r.Error)
	}
	if done := w.expect("done"); done["outcome"] != "ok" {
		t.Errorf("the window is told %v", done)
	}
}

// TestConsentPINChange: pin.change with both PINs typed on the consent page.
func TestConsentPINChange(t *testing.T) {
	lc := newLifecycle(t, false)
	portal := lc.dial(portalOrigin)
	bob := lc.tokens["bob"]
	nonce := newNonce(t)
	id := portal.send("pin.change", map[string]any{"token": bob, "consent": map[string]any{"nonce": nonce}})
	w := lc.openWindow(nonce)
	req := w.expect("request")
	if req["method"] != "pin.change" || req["pin"] != "user" || req["newPin"] != true || req["certificate"] != nil {
		t.Fatalf("the consent page is shown %v", req)
	}
	w.answer(req, "approve", map[string]any{"pin": lcUserPIN, "newPin": lcNewPIN})
	if r := portal.reply("pin.change", id); r.Error != nil {
		t.Fatalf("pin.change with consent: %+v", r.Error)
	}
	// The new PIN is bob's now.
	portal.result("pin.change", map[string]any{"token": bob, "oldPin": lcNewPIN, "newPin": lcUserPIN})
}

// TestConsentNonces: a nonce serves one call, once, and one window.
func TestConsentNonces(t *testing.T) {
	lc := newLifecycle(t, false)
	portal := lc.dial(portalOrigin)
	data := []byte("nonces")

	t.Run("reused", func(t *testing.T) {
		lc.t, portal.t = t, t
		nonce := newNonce(t)
		id := portal.send("sign", lc.consentSign(nonce, data))
		w := lc.openWindow(nonce)
		w.answer(w.expect("request"), "deny", nil)
		wantError(t, portal.reply("sign", id), 1050, "CONSENT_DENIED")
		wantError(t, portal.call("sign", lc.consentSign(nonce, data)), -32602, "INVALID_PARAMS")
		if e := lc.openWindow(nonce).expect("error"); e["error"] != "ended" {
			t.Errorf("a window for an ended nonce shows %v", e)
		}
	})
	t.Run("another connection", func(t *testing.T) {
		lc.t, portal.t = t, t
		nonce := newNonce(t)
		id := portal.send("sign", lc.consentSign(nonce, data))
		w := lc.openWindow(nonce)
		req := w.expect("request") // the first call has the nonce now
		other := lc.dial("https://b.example")
		wantError(t, other.call("sign", lc.consentSign(nonce, []byte("other"))), -32602, "INVALID_PARAMS")
		if req["origin"] != portalOrigin || fmt.Sprint(req["items"]) != fmt.Sprint([]any{hexSHA256(data)}) {
			t.Fatalf("the window shows %v, not the first call", req)
		}
		w.answer(req, "approve", map[string]any{"pin": lcUserPIN})
		if r := portal.reply("sign", id); r.Error != nil {
			t.Fatalf("the first call: %+v", r.Error)
		}
	})
	t.Run("second window", func(t *testing.T) {
		lc.t, portal.t = t, t
		nonce := newNonce(t)
		id := portal.send("sign", lc.consentSign(nonce, data))
		w := lc.openWindow(nonce)
		req := w.expect("request")
		if e := lc.openWindow(nonce).expect("error"); e["error"] != "elsewhere" {
			t.Errorf("a second window shows %v", e)
		}
		w.answer(req, "approve", map[string]any{"pin": lcUserPIN})
		if r := portal.reply("sign", id); r.Error != nil {
			t.Fatalf("the call of the first window: %+v", r.Error)
		}
	})
	t.Run("bad params", func(t *testing.T) {
		lc.t, portal.t = t, t
		for _, consent := range []any{true, map[string]any{}, map[string]any{"nonce": "short"}, map[string]any{"nonce": strings.Repeat("a", 40) + "!"},
			map[string]any{"nonce": newNonce(t), "description": strings.Repeat("x", 501)}} {
			p := lc.consentSign("", data)
			p["consent"] = consent
			wantError(t, portal.call("sign", p), -32602, "INVALID_PARAMS")
		}
		p := lc.consentSign(newNonce(t), data)
		p["pin"] = lcUserPIN
		wantError(t, portal.call("sign", p), -32602, "INVALID_PARAMS")
	})
	t.Run("foreign origins", func(t *testing.T) {
		lc.t = t
		for _, origin := range []string{portalOrigin, ""} {
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			_, resp, err := websocket.DefaultDialer.Dial("ws://"+lc.ts.host()+"/consent/ws?n="+newNonce(t), h)
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("consent socket from %q: %v %v, want 403", origin, err, resp)
			}
		}
	})
}

// TestConsentTimeouts runs with a short consent timeout: no answer, no
// window, and a window whose nonce no call has.
func TestConsentTimeouts(t *testing.T) {
	const timeout = 2 * time.Second
	lc := newLifecycleServing(t, false, Config{ConsentTimeout: timeout})
	portal := lc.dial(portalOrigin)
	data := []byte("timeouts")

	t.Run("no answer", func(t *testing.T) {
		lc.t, portal.t = t, t
		nonce := newNonce(t)
		id := portal.send("sign", lc.consentSign(nonce, data))
		w := lc.openWindow(nonce)
		if req := w.expect("request"); req["expiresIn"] != float64(2) {
			t.Errorf("expiresIn %v, want 2", req["expiresIn"])
		}
		wantError(t, portal.reply("sign", id), 1051, "CONSENT_TIMEOUT")
		if done := w.expect("done"); done["outcome"] != "CONSENT_TIMEOUT" {
			t.Errorf("the window is told %v", done)
		}
	})
	t.Run("no window", func(t *testing.T) {
		lc.t, portal.t = t, t
		start := time.Now()
		wantError(t, portal.call("sign", lc.consentSign(newNonce(t), data)), 1052, "CONSENT_UNAVAILABLE")
		if d := time.Since(start); d < timeout {
			t.Errorf("CONSENT_UNAVAILABLE after %v, before the wait of %v", d, timeout)
		}
	})
	t.Run("made up", func(t *testing.T) {
		lc.t = t
		if e := lc.openWindow(newNonce(t)).expect("error"); e["error"] != "unknown" {
			t.Errorf("a window with a made-up nonce shows %v", e)
		}
	})
}

// TestPINEntry: an origin with pin_entry "agent" cannot send a PIN, and
// nothing reaches the token; one with "page" cannot ask for consent.
func TestPINEntry(t *testing.T) {
	lc := newLifecycleServing(t, true, Config{OriginPINEntry: map[string]PINEntry{
		portalOrigin: PINEntryAgent, "https://b.example": PINEntryPage}})
	data := []byte("pin entry")
	signWithPIN := map[string]any{"token": lc.tokens["alice"], "cert": "01", "pin": lcUserPIN, "data": base64.StdEncoding.EncodeToString(data)}

	lc.shim.ClearCalls(t)
	agentOnly := lc.dial(portalOrigin)
	r := agentOnly.call("sign", signWithPIN)
	wantError(t, r, 1030, "PERMISSION_DENIED")
	if n := lc.shim.Called(t, "C_Login"); n != 0 {
		t.Errorf("C_Login called %d times for a refused call", n)
	}
	for _, method := range []string{"pin.change", "keys.generate"} {
		wantError(t, agentOnly.call(method, map[string]any{"token": lc.tokens["bob"], "pin": lcUserPIN, "oldPin": lcUserPIN, "newPin": lcNewPIN, "algorithm": "EC-P256"}), 1030, "PERMISSION_DENIED")
	}
	if calls := lc.shim.Calls(t); strings.Contains(strings.Join(calls, " "), "C_Login") || strings.Contains(strings.Join(calls, " "), "C_SetPIN") {
		t.Errorf("calls reached the token: %q", calls)
	}
	nonce := newNonce(t)
	id := agentOnly.send("sign", lc.consentSign(nonce, data))
	w := lc.openWindow(nonce)
	w.answer(w.expect("request"), "approve", map[string]any{"pin": lcUserPIN})
	if r := agentOnly.reply("sign", id); r.Error != nil {
		t.Fatalf("sign with consent from the agent-only origin: %+v", r.Error)
	}

	pageOnly := lc.dial("https://b.example")
	wantError(t, pageOnly.call("sign", lc.consentSign(newNonce(t), data)), 1030, "PERMISSION_DENIED")
	pageOnly.result("sign", signWithPIN)
	lc.dial("").result("sign", signWithPIN) // local programs choose

	refused := 0
	for _, line := range lc.auditLines() {
		if line["outcome"] == "PERMISSION_DENIED" {
			refused++
		}
	}
	if refused != 4 {
		t.Errorf("%d audit lines PERMISSION_DENIED, want 4:\n%s", refused, lc.audit.String())
	}
}

// TestConsentFinalTry: with the token on its final try, the consent page
// says so, an approval without the person's confirmation tries nothing and
// asks again, and their confirmation spends the try, though the call comes
// from a web page. A PIN pad's token takes no PIN from the page.
func TestConsentFinalTry(t *testing.T) {
	lc := newLifecycle(t, true)
	portal := lc.dial(portalOrigin)
	data := []byte("the last try")

	t.Run("final try", func(t *testing.T) {
		lc.t, portal.t = t, t
		lc.shim.Set(t, "slot_label = alice", "token_flags_set = CKF_USER_PIN_FINAL_TRY")
		lc.shim.ClearCalls(t)
		nonce := newNonce(t)
		p := lc.consentSign(nonce, data)
		p["confirmFinalTry"] = true // the page's own word does not count
		id := portal.send("sign", p)
		w := lc.openWindow(nonce)
		req := w.expect("request")
		if pin := req["token"].(map[string]any)["pin"].(map[string]any); pin["finalTry"] != true {
			t.Fatalf("the window is not told of the final try: %v", pin)
		}
		w.answer(req, "approve", map[string]any{"pin": lcUserPIN})
		req = w.expect("request")
		if retry, _ := req["retry"].(map[string]any); retry["data"].(map[string]any)["reason"] != "PIN_FINAL_TRY" {
			t.Fatalf("an unconfirmed final try: the window shows %v", req)
		}
		if n := lc.shim.Called(t, "C_Login"); n != 0 {
			t.Fatalf("%d logins before the person confirmed the final try", n)
		}
		w.answer(req, "approve", map[string]any{"pin": lcUserPIN, "confirmFinalTry": true})
		if r := portal.reply("sign", id); r.Error != nil {
			t.Fatalf("the confirmed final try: %+v", r.Error)
		}
		if n := lc.shim.Called(t, "C_Login"); n != 1 {
			t.Errorf("%d logins for the confirmed final try, want 1", n)
		}
	})
	t.Run("PIN pad", func(t *testing.T) {
		lc.t, portal.t = t, t
		lc.shim.Set(t, "slot_label = alice", "token_flags_set = CKF_PROTECTED_AUTHENTICATION_PATH", "pinpad = "+lcUserPIN)
		nonce := newNonce(t)
		id := portal.send("sign", lc.consentSign(nonce, data))
		w := lc.openWindow(nonce)
		req := w.expect("request")
		if pin := req["token"].(map[string]any)["pin"].(map[string]any); pin["protectedAuthPath"] != true {
			t.Fatalf("the window is not told of the PIN pad: %v", pin)
		}
		w.answer(req, "approve", map[string]any{"pin": ""})
		if r := portal.reply("sign", id); r.Error != nil {
			t.Fatalf("sign on the PIN pad: %+v", r.Error)
		}
	})
}

// TestConsentKeysList: keys.list with consent lists after the person's
// login, as with pin.
func TestConsentKeysList(t *testing.T) {
	lc := newLifecycle(t, false)
	portal := lc.dial(portalOrigin)
	nonce := newNonce(t)
	id := portal.send("keys.list", map[string]any{"token": lc.tokens["alice"], "consent": map[string]any{"nonce": nonce}})
	w := lc.openWindow(nonce)
	req := w.expect("request")
	if req["method"] != "keys.list" {
		t.Fatalf("the consent page is shown %v", req)
	}
	w.answer(req, "approve", map[string]any{"pin": lcUserPIN})
	r := portal.reply("keys.list", id)
	var out struct {
		Keys     []any
		Complete bool
	}
	if r.Error != nil || json.Unmarshal(r.Result, &out) != nil || !out.Complete || len(out.Keys) != 1 {
		t.Fatalf("keys.list with consent: %s %+v", r.Result, r.Error)
	}
}
