package web_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tokenagent/tokenagent/internal/openssl"
)

// sentCalls collects the requests the page sends the agent, from the
// browser's own record of the socket's frames.
type sentCalls struct {
	mu   sync.Mutex
	list []sentCall
}

type sentCall struct {
	Method string         `json:"method"`
	Params map[string]any `json:"params"`
}

func captureCalls(t *testing.T, ctx context.Context) *sentCalls {
	t.Helper()
	c := &sentCalls{}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*network.EventWebSocketFrameSent)
		if !ok || e.Response == nil {
			return
		}
		var call sentCall
		if json.Unmarshal([]byte(e.Response.PayloadData), &call) == nil && call.Method != "" {
			c.mu.Lock()
			c.list = append(c.list, call)
			c.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// of lists the params of the calls of method sent so far.
func (c *sentCalls) of(method string) []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var params []map[string]any
	for _, call := range c.list {
		if call.Method == method {
			params = append(params, call.Params)
		}
	}
	return params
}

// TestSelfServicePagePINPad shows a token whose reader has a PIN pad
// (pin.protectedAuthPath, through the shim over SoftHSM, which logs in
// with the PIN "typed on the pad" and refuses one from the caller): no
// form of its card asks for a PIN, each says in the page's language that
// the reader asks for it, and a file signed from the page sends "" for the
// PIN and verifies with OpenSSL, also after the final-try confirmation.
func TestSelfServicePagePINPad(t *testing.T) {
	f, ctl := newPageFixture(t, true)
	alice, bob := f.tokenID("alice"), f.tokenID("legacy-bob")
	pad := func(flags string) {
		ctl.Set(t, "slot_label = alice", "token_flags_set = "+flags, "pinpad = "+userPIN)
	}
	pad("CKF_PROTECTED_AUTHENTICATION_PATH")
	calls := captureCalls(t, f.ctx)
	f.open("en")
	f.wait(card(alice) + `.querySelector("details.sign p.pinpad")`)

	// What each form of a card asks for, every form shown: the renewal's
	// behind its call to action too.
	type formView struct {
		Form, Note string
		PINs       int
	}
	forms := func(id string) []formView {
		return eval[[]formView](f, `(() => { const c = `+card(id)+`; c.querySelectorAll(".task button.cta").forEach((b) => b.click());
			return [...c.querySelectorAll("form")].map((form) => ({ Form: form.className, Note: form.querySelector("p.pinpad")?.textContent || "",
				PINs: form.querySelectorAll("input[type=password]").length })); })()`)
	}
	notes := map[string]string{
		"change":        "This token's reader has a PIN pad: when it asks, type the current PIN and then the new one on the reader. This page asks for none.",
		"unlock":        "This token's reader has a PIN pad: when it asks, type the unlock code (SO PIN) and then the new PIN on the reader. This page asks for none.",
		"sign":          "This token's reader has a PIN pad: type the PIN on the reader when it asks. This page asks for none.",
		"renew-prepare": "This token's reader has a PIN pad: type the PIN on the reader when it asks. This page asks for none.",
		"renew-now":     "This token's reader has a PIN pad: type the PIN on the reader when it asks. This page asks for none.",
	}
	// noPINFields checks that no form of alice's card asks for a PIN, each
	// saying the reader asks for it, and that the forms want are there.
	noPINFields := func(t *testing.T, want ...string) {
		got := forms(alice)
		seen := map[string]bool{}
		for _, v := range got {
			seen[v.Form] = true
			if v.PINs != 0 || v.Note != notes[v.Form] {
				t.Errorf("alice's form %s has %d PIN fields and says %q, want none and %q", v.Form, v.PINs, v.Note, notes[v.Form])
			}
		}
		for _, form := range want {
			if !seen[form] {
				t.Errorf("alice's card has no form %s among %+v", form, got)
			}
		}
	}
	t.Run("no PIN fields", func(t *testing.T) {
		f.t = t
		noPINFields(t, "change", "sign", "renew-prepare", "renew-now")
		// The renewal's form, opened from its call to action, has the
		// focus on its button, there being no PIN to type.
		if focus := eval[string](f, `document.activeElement.closest("form")?.className || ""`); focus != "renew-now" {
			t.Errorf("the focus is in %q, not the renewal's form", focus)
		}
		eval[bool](f, `new Promise((done) => { `+card(alice)+`.querySelectorAll("details").forEach((d) => (d.open = true)); requestAnimationFrame(() => done(true)); })`)
		png, err := chromedp.Run(f.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(f.out, "selfservice-pinpad-en.png")
		if err := os.WriteFile(name, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", name)
		// A token without a pad still asks.
		for _, v := range forms(bob) {
			if v.PINs == 0 || v.Note != "" {
				t.Errorf("legacy-bob's form %s has %d PIN fields and says %q", v.Form, v.PINs, v.Note)
			}
		}
	})

	t.Run("translated", func(t *testing.T) {
		f.t = t
		for _, lang := range []string{"ru", "zh"} {
			f.open(lang)
			f.wait(card(alice) + `.querySelector("details.sign p.pinpad")`)
			notes := eval[[]string](f, `[...`+card(alice)+`.querySelectorAll("p.pinpad")].map((p) => p.textContent)`)
			for _, note := range notes {
				if !script[lang].MatchString(note) || len(english(note)) != 0 {
					t.Errorf("%s: the PIN pad note %q is not in that language", lang, note)
				}
			}
		}
		f.open("en")
	})

	// sign signs a file from the page, checking the final-try confirmation
	// when confirm, and verifies the signature with OpenSSL.
	sign := func(t *testing.T, confirm bool) {
		dir := t.TempDir()
		data := []byte(strings.Repeat("signed with the PIN typed on the pad\n", 100))
		openssl.WriteFiles(t, dir, map[string][]byte{"doc.txt": data, "ca.pem": f.ca.PEM})
		before := len(calls.of("sign"))
		downloads := f.chooseFileToSign(alice, filepath.Join(dir, "doc.txt"))
		f.submit(alice, "sign", map[string]any{"cert": "01"})
		if confirm {
			f.wait(f.message(alice, "sign") + `.textContent === "The PIN has only one try left: one more wrong PIN locks the token. Confirm that you want to use it, then try again."`)
			if hidden := eval[bool](f, card(alice)+`.querySelector("form.sign .final").hidden`); hidden {
				t.Fatal("the final-try confirmation is hidden")
			}
			f.submit(alice, "sign", map[string]any{"cert": "01", "confirmFinalTry": true})
		}
		sig := f.signature(alice, downloads, "doc.txt.p7s")
		openssl.WriteFiles(t, dir, map[string][]byte{"doc.txt.p7s": sig})
		if out, ok := openssl.Run(t, dir, "cms", "-verify", "-binary", "-inform", "DER", "-in", "doc.txt.p7s",
			"-content", "doc.txt", "-CAfile", "ca.pem", "-cades", "-out", os.DevNull); !ok {
			t.Errorf("openssl cms -verify: %s", out)
		}
		sent := calls.of("sign")[before:]
		if len(sent) == 0 {
			t.Fatal("no sign call seen on the socket")
		}
		for _, p := range sent {
			if pin, ok := p["pin"]; !ok || pin != "" {
				t.Errorf("sign sent with pin %v (present: %v), want \"\"", pin, ok)
			}
		}
		if last := sent[len(sent)-1]; (last["confirmFinalTry"] == true) != confirm {
			t.Errorf("the last sign sent confirmFinalTry %v, want %v", last["confirmFinalTry"], confirm)
		}
	}
	t.Run("sign", func(t *testing.T) {
		f.t = t
		sign(t, false)
	})
	t.Run("sign on the final try", func(t *testing.T) {
		f.t = t
		pad("CKF_PROTECTED_AUTHENTICATION_PATH | CKF_USER_PIN_FINAL_TRY")
		f.wait(card(alice) + `.querySelector("[data-pin]").dataset.pin === "finalTry" && ` + card(alice) + `.querySelector("details.unlock")`)
		// The unlock is offered on the final try, with no PIN fields either.
		noPINFields(t, "change", "unlock", "sign")
		sign(t, true)
	})
}

// TestSelfServicePageNoLogin shows a token that needs no login
// (CKF_LOGIN_REQUIRED cleared by the shim): forms whose only PIN is the
// user's ask for none and say so, and send "" (the agent uses no PIN
// there); a PIN change still asks for the PINs it changes.
func TestSelfServicePageNoLogin(t *testing.T) {
	f, ctl := newPageFixture(t, true)
	alice := f.tokenID("alice")
	ctl.Set(t, "slot_label = alice", "token_flags_clear = CKF_LOGIN_REQUIRED")
	calls := captureCalls(t, f.ctx)
	f.open("en")
	f.wait(card(alice) + `.querySelector("details.sign p.pinpad")`)
	type formView struct {
		Form, Note string
		PINs       int
	}
	got := eval[[]formView](f, `[...`+card(alice)+`.querySelectorAll("form")].map((form) => ({ Form: form.className,
		Note: form.querySelector("p.pinpad")?.textContent || "", PINs: form.querySelectorAll("input[type=password]").length }))`)
	seen := map[string]bool{}
	for _, v := range got {
		seen[v.Form] = true
		switch v.Form {
		case "change":
			if v.PINs != 3 || v.Note != "" {
				t.Errorf("the PIN change has %d PIN fields and says %q, want its three", v.PINs, v.Note)
			}
		case "sign", "renew-prepare":
			if v.PINs != 0 || v.Note != "This token needs no PIN for this: the agent uses it without logging in." {
				t.Errorf("form %s has %d PIN fields and says %q, want none and the note", v.Form, v.PINs, v.Note)
			}
		}
	}
	if !seen["sign"] || !seen["change"] {
		t.Fatalf("alice's forms %+v lack sign or change", got)
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "doc.txt")
	if err := os.WriteFile(doc, []byte("no login"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.chooseFileToSign(alice, doc)
	f.submit(alice, "sign", map[string]any{"cert": "01"})
	f.wait(f.message(alice, "sign") + `.textContent !== "" && ` + f.message(alice, "sign") + `.textContent !== "Working…"`)
	sent := calls.of("sign")
	if len(sent) == 0 {
		t.Fatal("no sign call seen on the socket")
	}
	if pin, ok := sent[len(sent)-1]["pin"]; !ok || pin != "" {
		t.Errorf("sign sent with pin %v (present: %v), want \"\"", pin, ok)
	}
}
