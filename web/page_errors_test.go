package web_test

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// agentError is an error the agent answered the page with, as the browser
// received it.
type agentError struct {
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
}

// agentErrors collects the errors the agent answers the page's calls with,
// from the browser's own record of the socket's frames.
type agentErrors struct {
	mu   sync.Mutex
	list []agentError
}

func captureErrors(t *testing.T, ctx context.Context) *agentErrors {
	t.Helper()
	c := &agentErrors{}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*network.EventWebSocketFrameReceived)
		if !ok || e.Response == nil {
			return
		}
		var m struct{ Error *agentError }
		if json.Unmarshal(e.Response.PayloadData, &m) == nil && m.Error != nil {
			c.mu.Lock()
			c.list = append(c.list, *m.Error)
			c.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *agentErrors) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.list)
}

// last is the last error with reason among those after the first n.
func (c *agentErrors) last(n int, reason string) (agentError, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.list) - 1; i >= n; i-- {
		if c.list[i].Data["reason"] == reason {
			return c.list[i], true
		}
	}
	return agentError{}, false
}

// protocolReasons reads the error reasons of docs/PROTOCOL.md section 3's
// table, and the client's own from tokenagent.js.
func protocolReasons(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, m := range regexp.MustCompile(`(?m)^\| -?\d+ \| ([A-Z_]+) \|`).FindAllStringSubmatch(string(doc), -1) {
		reasons = append(reasons, m[1])
	}
	client, err := os.ReadFile("tokenagent.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^export const ([A-Z_]+) = "([A-Z_]+)";`).FindAllStringSubmatch(string(client), -1) {
		reasons = append(reasons, m[2])
	}
	if len(reasons) < 24 {
		t.Fatalf("only %d reasons found in the contract and the client: %q", len(reasons), reasons)
	}
	return reasons
}

// english finds English in text shown on a Russian or Chinese page: words
// of three Latin letters or more, but for the names that stay as they are.
func english(text string) []string {
	keep := map[string]bool{"PIN": true, "PUK": true, "CSR": true, "PEM": true, "BEGIN": true, "CERTIFICATE": true, "tokenagent": true, "SHA": true}
	var found []string
	for _, w := range regexp.MustCompile(`[A-Za-z]{3,}`).FindAllString(text, -1) {
		if !keep[w] {
			found = append(found, w)
		}
	}
	return found
}

var script = map[string]*regexp.Regexp{"ru": regexp.MustCompile(`\p{Cyrillic}`), "zh": regexp.MustCompile(`\p{Han}`)}

// errorRow makes the agent answer the page with one reason, through the
// page's own forms.
type errorRow struct {
	reason  string
	method  string   // the call's, which errorMessage words some reasons by
	control []string // the shim's directives for the token "errors", beside the base ones
	// do submits a form and returns the JavaScript of the line that shows
	// the outcome.
	do func(lang string) string
	// pageKey: the page's own sentence (i18n.js) stands in for errorMessage's.
	pageKey string
}

// TestPageErrorsTranslated makes the agent answer each error reason the
// page can meet, on the Russian and the Chinese page: the line shows the
// sentence of errorMessage (the client's table) in that language, with no
// English and never the agent's message. The reasons no page action can
// bring about are checked on the table itself, so that every reason of the
// contract is covered one way or the other.
func TestPageErrorsTranslated(t *testing.T) {
	requireCJKFont(t)
	f, ctl := newPageFixture(t, true)
	base := []string{"slot_label = errors", "mechanisms_hide = CKM_RSA_PKCS_KEY_PAIR_GEN"}
	ctl.Set(t, base...)
	env := f.env
	for _, label := range []string{"errors", "rate-ru", "rate-zh"} {
		if err := env.InitToken(label, soPIN, userPIN); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	// 0a expires soon (a renewal to start), 0b and 0c are deleted under the
	// Russian and the Chinese page.
	for _, c := range []struct {
		id   byte
		days int
	}{{0x0a, 10}, {0x0b, 400}, {0x0c, 400}} {
		if _, _, err := env.AddKeyAndCert("errors", userPIN, f.ca, softhsm.CertSpec{KeyAlgorithm: "RSA-2048", ID: []byte{c.id},
			Label: fmt.Sprintf("erin-%x", c.id), Subject: pkix.Name{CommonName: "Erin"}, NotAfter: now.AddDate(0, 0, c.days).Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	errs := f.tokenID("errors")
	ctx := context.Background()
	local := func() agent.Call { return agent.Call{Origin: agent.LocalOrigin, Token: errs, PIN: []byte(userPIN)} }
	// A key without a certificate, whose card takes the issued one.
	fresh, err := f.agent.GenerateKey(ctx, local(), agent.KeySpec{Algorithm: "EC-P256"}, "erin-new")
	if err != nil {
		t.Fatal(err)
	}
	certPEM := func(pub any) string {
		t.Helper()
		c, err := f.ca.Issue(pub, pkix.Name{CommonName: "Erin"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	forFresh := certPEM(fresh.PublicKey)
	other, err := softhsm.GenerateKey("EC-P256")
	if err != nil {
		t.Fatal(err)
	}
	forOther := certPEM(other.Public())
	doc := filepath.Join(t.TempDir(), "doc.txt")
	if err := os.WriteFile(doc, []byte("a document\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	frames := captureErrors(t, f.ctx)

	change := func(oldPin string) func(string) string {
		return func(string) string {
			f.submit(errs, "change", map[string]any{"oldPin": oldPin, "newPin": userPIN, "newPin2": userPIN})
			return f.message(errs, "change")
		}
	}
	unlock := func(so string) func(string) string {
		return func(string) string {
			f.submit(errs, "unlock", map[string]any{"soPin": so, "newPin": userPIN, "newPin2": userPIN})
			return f.message(errs, "unlock")
		}
	}
	// sign signs with cert, or with "" a certificate of the language's
	// own, deleted behind the page's back first.
	sign := func(id string) func(string) string {
		return func(lang string) string {
			cert := id
			if cert == "" {
				// Deleted behind the page's back once the page has read
				// the cards after the last call: a reading after the
				// deletion would take the certificate out of the form.
				f.wait(`document.getElementById("tokens").getAttribute("aria-busy") !== "true"`)
				cert = map[string]string{"ru": "0b", "zh": "0c"}[lang]
				if _, err := f.agent.DeleteObjects(ctx, local(), cert, agent.DeleteCertificate); err != nil {
					t.Fatal(err)
				}
			}
			f.chooseFileToSign(errs, doc)
			f.submit(errs, "sign", map[string]any{"cert": cert, "pin": userPIN})
			return f.message(errs, "sign")
		}
	}
	fresher := task(errs, "key", `[data-key="`+fresh.ID+`"]`)
	complete := func(cert string) func(string) string {
		return func(string) string {
			f.fill(fresher, "complete", map[string]any{"certificate": cert, "pin": userPIN})
			return fresher + `.querySelector(":scope > .msg")`
		}
	}
	rows := []errorRow{
		{reason: "PIN_INCORRECT", method: "pin.change", do: change("0000")},
		{reason: "PIN_INVALID", method: "pin.change", do: change("1")},
		{reason: "PIN_FINAL_TRY", method: "pin.change", control: []string{"token_flags_set = CKF_USER_PIN_FINAL_TRY"}, do: change(userPIN)},
		{reason: "PIN_LOCKED", method: "pin.change", control: []string{"fail = C_Login:USER CKR_PIN_LOCKED"}, do: change(userPIN)},
		{reason: "SO_PIN_INCORRECT", method: "pin.unlock", do: unlock("87654321")},
		{reason: "SO_PIN_LOCKED", method: "pin.unlock", control: []string{"fail = C_Login:SO CKR_PIN_LOCKED"}, do: unlock(soPIN)},
		{reason: "MECHANISM_UNSUPPORTED", method: "renewal.prepare", do: func(string) string {
			renew := task(errs, "renew", `[data-cert="0a"]`)
			eval[bool](f, renew+`.querySelector("button.cta").click() || true`)
			f.fill(renew, "renew-now", map[string]any{"pin": userPIN})
			return renew + `.querySelector(":scope > .msg")`
		}},
		{reason: "TOKEN_READ_ONLY", method: "renewal.complete", control: []string{"fail = C_CreateObject CKR_TOKEN_WRITE_PROTECTED"}, do: complete(forFresh)},
		{reason: "KEY_NOT_FOUND", method: "renewal.complete", do: complete(forOther)},
		{reason: "INVALID_PARAMS", method: "renewal.complete", do: complete("this is not a certificate"), pageKey: "notCertificate"},
		{reason: "DEVICE_ERROR", method: "sign", control: []string{"fail = C_SignInit CKR_FUNCTION_FAILED"}, do: sign("0a")},
		{reason: "OBJECT_NOT_FOUND", method: "sign", do: sign("")},
		{reason: "TOKEN_REMOVED", method: "sign", control: []string{"fail = C_SignInit CKR_DEVICE_REMOVED"}, do: sign("0a")},
		{reason: "RATE_LIMITED", method: "pin.change", do: func(lang string) string {
			// Three wrong PINs on a token of this language's own, then one more.
			rate := f.tokenID("rate-" + lang)
			msg := f.message(rate, "change")
			for i := range 3 {
				f.submit(rate, "change", map[string]any{"oldPin": "0000", "newPin": userPIN, "newPin2": userPIN})
				f.wait(fmt.Sprintf(`%s.classList.contains("error") && %s.dataset.n !== "%d" && (%s.dataset.n = "%d")`, msg, msg, i, msg, i))
			}
			f.submit(rate, "change", map[string]any{"oldPin": userPIN, "newPin": userPIN, "newPin2": userPIN})
			return msg
		}},
	}

	for _, lang := range []string{"ru", "zh"} {
		t.Run(lang, func(t *testing.T) {
			f.t = t
			ctl.Set(t, base...)
			f.open(lang)
			f.wait(fresher)
			for _, row := range rows {
				ctl.Set(t, append(slices.Clone(base), row.control...)...)
				n := frames.count()
				// No message of an earlier row can pass for this one's.
				eval[bool](f, `(document.querySelectorAll(".msg").forEach((m) => { m.className = "msg"; m.textContent = ""; }), true)`)
				msg := row.do(lang)
				f.wait(msg + `.classList.contains("error") || ` + msg + `.classList.contains("warn")`)
				got, ok := frames.last(n, row.reason)
				if !ok {
					t.Errorf("%s: the agent answered no %s; the page says %q", row.reason, row.reason,
						eval[string](f, msg+`.textContent`))
					continue
				}
				// What the page shows and what it should, read at once (a
				// countdown changes every second).
				shown := eval[[]string](f, fmt.Sprintf(`(async () => {
					const el = %s; const text = el.textContent;
					const data = { ...%s, ...(el.dataset.seconds ? { retryAfterSeconds: Number(el.dataset.seconds) } : {}) };
					const { errorMessage } = await import("/tokenagent.js");
					const { t } = await import("/app/i18n.js");
					return [text, %q ? t(%q) : errorMessage({ reason: data.reason, data, method: %q }, %q)]; })()`,
					msg, mustJSON(t, got.Data), row.pageKey, row.pageKey, row.method, lang))
				text, want := shown[0], shown[1]
				if text != want {
					t.Errorf("%s: the page says %q, want %q", row.reason, text, want)
				}
				if strings.Contains(text, got.Message) || strings.Contains(eval[string](f, `document.body.innerText`), got.Message) {
					t.Errorf("%s: the page shows the agent's message %q", row.reason, got.Message)
				}
				if en := english(text); len(en) != 0 || !script[lang].MatchString(text) {
					t.Errorf("%s: %q is not in %s (English: %q)", row.reason, text, lang, en)
				}
			}
			// The page's own strings, all translated.
			if missing := eval[[]string](f, `import("/app/i18n.js").then((m) => m.untranslated())`); len(missing) != 0 {
				t.Errorf("strings of the page without a %s translation: %q", lang, missing)
			}
		})
	}

	// No action of the page brings these about: it sends well-formed
	// requests for methods the agent has, all of them allowed on its own
	// page, and never closes its client; a token going away removes its
	// card; it takes PINs in its own forms, never asking for consent.
	// Their sentences are checked on the table.
	unreached := []string{"PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND", "INTERNAL", "PERMISSION_DENIED", "TOKEN_NOT_FOUND",
		"AGENT_UNREACHABLE", "TIMEOUT", "CLOSED", "LOCAL_NETWORK_DENIED", "CONSENT_DENIED", "CONSENT_TIMEOUT", "CONSENT_UNAVAILABLE"}
	t.Run("every reason", func(t *testing.T) {
		f.t = t
		covered := slices.Clone(unreached)
		for _, row := range rows {
			covered = append(covered, row.reason)
		}
		for _, r := range protocolReasons(t) {
			if !slices.Contains(covered, r) {
				t.Errorf("reason %s is neither brought about on the page nor checked on the table", r)
			}
		}
		said := eval[map[string]map[string]string](f, `import("/tokenagent.js").then(({ errorMessage }) => Object.fromEntries(["ru", "zh"].map((lang) =>
			[lang, Object.fromEntries(`+mustJSON(t, unreached)+`.map((reason) => [reason, errorMessage({ reason, data: {} }, lang)]))])))`)
		unknown := eval[map[string]string](f, `import("/tokenagent.js").then(({ errorMessage }) => ({ ru: errorMessage({ reason: "NO_SUCH" }, "ru"), zh: errorMessage({ reason: "NO_SUCH" }, "zh") }))`)
		for lang, texts := range said {
			for reason, text := range texts {
				if en := english(text); len(en) != 0 || !script[lang].MatchString(text) || text == unknown[lang] {
					t.Errorf("%s in %s: %q (English: %q)", reason, lang, text, en)
				}
			}
		}
	})
}
