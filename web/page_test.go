package web_test

import (
	"context"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/audit"
	"github.com/tokenagent/tokenagent/internal/browsertest"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/p11shim"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/state"
	"github.com/tokenagent/tokenagent/internal/syncbuf"
	"github.com/tokenagent/tokenagent/token"
	"github.com/tokenagent/tokenagent/web"
	"github.com/tokenagent/tokenagent/ws"
)

var update = flag.Bool("update", false, "write the English screenshot of the self-service page to docs/screenshot-en.png")

const (
	userPIN = "1234"
	soPIN   = "12345678"
)

// pageFixture is a real agent over SoftHSM tokens, serving the self-service
// page, and a browser showing it.
type pageFixture struct {
	t      *testing.T
	env    *softhsm.Env
	ca     *softhsm.CA
	agent  *agent.Agent
	origin string
	ctx    context.Context
	stop   func()          // shuts the server and the agent down, once
	out    string          // where screenshots go
	audit  *syncbuf.Buffer // the agent's audit log

	top    *testing.T      // the test the fixture belongs to, for cleanups
	module string          // the PKCS#11 module the agent loads
	state  string          // the agent's state directory
	logs   *syncbuf.Buffer // the agent's log, across restarts
}

// newPageFixture creates the tokens alice (a certificate valid for 400 days
// and one expiring in 10) and legacy-bob (legacy media, a certificate with
// 20 months and 3 days left), and serves them with the agent's watcher
// running.
//
// With shim, the agent loads SoftHSM through testdata/p11shim, and the
// returned control injects token flags and faults.
func newPageFixture(t *testing.T, shim bool) (*pageFixture, *p11shim.Control) {
	env := softhsm.New(t)
	ca, err := softhsm.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, label := range []string{"alice", "legacy-bob"} {
		if err := env.InitToken(label, soPIN, userPIN); err != nil {
			t.Fatal(err)
		}
	}
	add := func(tok string, spec softhsm.CertSpec) {
		if _, _, err := env.AddKeyAndCert(tok, userPIN, ca, spec); err != nil {
			t.Fatal(err)
		}
	}
	add("alice", softhsm.CertSpec{KeyAlgorithm: "RSA-2048", ID: []byte{0x01}, Label: "alice-sign",
		Subject: pkix.Name{CommonName: "Alice", Organization: []string{"Example"}}, NotAfter: now.AddDate(0, 0, 400)})
	add("alice", softhsm.CertSpec{ID: []byte{0x02}, Label: "alice-old",
		Subject: pkix.Name{CommonName: "Alice (old)"}, NotAfter: now.AddDate(0, 0, 10).Add(time.Hour)})
	add("legacy-bob", softhsm.CertSpec{ID: []byte{0x03}, Label: "bob",
		Subject: pkix.Name{CommonName: "Bob"}, NotAfter: now.AddDate(0, 20, 3).Add(time.Hour)})

	module, ctl := env.Module, (*p11shim.Control)(nil)
	if shim {
		module = p11shim.Path(t)
		ctl = p11shim.Use(t, env.Module)
	}
	return servePage(t, env, ca, module), ctl
}

// servePage serves the page for an agent, its watcher running, over the
// PKCS#11 module at path module, whose tokens are env's, with a state
// directory of its own, and opens a browser.
func servePage(t *testing.T, env *softhsm.Env, ca *softhsm.CA, module string) *pageFixture {
	out := os.Getenv("TOKENAGENT_TESTOUT")
	if out == "" {
		out = t.TempDir()
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &pageFixture{t: t, top: t, env: env, ca: ca, module: module, out: out, audit: &syncbuf.Buffer{},
		state: filepath.Join(t.TempDir(), "state"), logs: &syncbuf.Buffer{}}
	f.serve(listenAgent(t, "0"))
	f.ctx = browsertest.New(t)
	t.Cleanup(func() {
		f.stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", f.logs.String())
		}
	})
	return f
}

// serve starts an agent over the fixture's module and state directory, as
// tokenagent run does, and serves it on ln.
func (f *pageFixture) serve(ln net.Listener) {
	t := f.top
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	states, err := state.Open(f.state)
	if err != nil {
		t.Fatal(err)
	}
	m := token.NewManager([]string{f.module}, log)
	a := agent.New(m, agent.Options{
		Audit:           audit.New(f.audit, log),
		State:           states,
		Logger:          log,
		Version:         "1.2.3",
		RenewBeforeDays: 30,
		PollInterval:    200 * time.Millisecond,
		Media: []agent.MediaProfile{{Name: "cpp-blue", Description: "Legacy CPP media", Legacy: true,
			UpgradeTo: "bjca", CarryOverMonths: 12, MatchLabel: regexp.MustCompile("^legacy-")},
			{Name: "bjca", Description: "BJCA token", MatchLabel: regexp.MustCompile("^bjca-")}},
	})
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { a.Run(runCtx); close(ran) }()

	srv := ws.New(ws.Config{AllowNoOrigin: true, Version: "1.2.3", Logger: log}, a)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	f.agent, f.origin = a, "http://"+ln.Addr().String()
	f.stop = sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ws.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		stopRun()
		<-ran
		if err := m.Close(); err != nil {
			t.Errorf("closing the token manager: %v", err)
		}
	})
}

// restart stops the agent and starts a new one on the same port with the
// same state directory, as a restarted tokenagent does; the page's client
// reconnects by itself.
func (f *pageFixture) restart() {
	f.t.Helper()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(f.origin, "http://"))
	if err != nil {
		f.t.Fatal(err)
	}
	f.stop()
	f.serve(listenAgent(f.t, port))
}

// tokenID is the id of the token labelled label.
func (f *pageFixture) tokenID(label string) string {
	f.t.Helper()
	tokens, err := f.agent.Tokens(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, tok := range tokens {
		if tok.Label == label {
			return tok.ID
		}
	}
	f.t.Fatalf("no token %q among %+v", label, tokens)
	return ""
}

// open loads the page in lang and waits until it has listed the tokens.
func (f *pageFixture) open(lang string) {
	f.t.Helper()
	if err := chromedp.Do(f.ctx, chromedp.Navigate(f.origin+"/?lang="+lang)); err != nil {
		f.t.Fatal(err)
	}
	f.wait(`document.body.dataset.ready === "1" && document.documentElement.lang.startsWith("` + lang + `")`)
}

// wait polls the JavaScript expression cond until it is true.
func (f *pageFixture) wait(cond string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 15*time.Second)
	defer cancel()
	js := fmt.Sprintf(`new Promise((resolve) => { const poll = () => { try { if (%s) return resolve(true); } catch {} setTimeout(poll, 25); }; poll(); })`, cond)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise)); err != nil {
		text, _ := chromedp.Run(f.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		f.t.Fatalf("waiting for %s: %v\npage:\n%s", cond, err, text)
	}
}

// eval evaluates js and returns its value.
func eval[T any](f *pageFixture, js string) T {
	f.t.Helper()
	v, err := chromedp.Run(f.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		f.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

func card(id string) string {
	return fmt.Sprintf(`document.querySelector('section[data-token="%s"]')`, id)
}

type certRow struct {
	ID, Status, Badge, Remaining string
}

type cardView struct {
	Label, Media, PIN string
	Certs             []certRow
}

func (f *pageFixture) view(id string) cardView {
	f.t.Helper()
	return eval[cardView](f, `(() => { const c = `+card(id)+`; const b = (s) => { const e = c.querySelector(s); return e ? e.textContent : ""; };
		return { Label: b("h2"), Media: (c.querySelector("[data-media]") || {}).dataset?.media || "", PIN: c.querySelector("[data-pin]").dataset.pin,
			Certs: [...c.querySelectorAll("tr[data-cert]")].map((r) => ({ ID: r.dataset.cert, Status: r.querySelector("[data-status]").dataset.status,
				Badge: r.querySelector("[data-status]").textContent, Remaining: r.querySelector(".remaining").textContent })) }; })()`)
}

// submit opens the details of form (its class up to the first "-") in the
// card of token id, sets the named inputs of the form (booleans check
// boxes) and submits it.
func (f *pageFixture) submit(id, form string, values map[string]any) {
	f.t.Helper()
	eval[bool](f, fmt.Sprintf(`(() => { const c = %s; c.querySelector("details.%s").open = true; const form = c.querySelector("form.%s");
		for (const [k, v] of Object.entries(%s)) { if (typeof v === "boolean") form.elements[k].checked = v; else form.elements[k].value = v; }
		form.requestSubmit(); return true; })()`,
		card(id), strings.Split(form, "-")[0], form, mustJSON(f.t, values)))
}

// chooseFileToSign opens the sign form of token id's card, chooses the
// file at path and lets the browser download into the directory it returns.
func (f *pageFixture) chooseFileToSign(id, path string) string {
	f.t.Helper()
	downloads := f.t.TempDir()
	allowDownloads := func(ctx context.Context, tgt *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tgt, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		return chromedp.Void{}, err
	}
	eval[bool](f, card(id)+`.querySelector("details.sign").open = true`)
	if err := chromedp.Do(f.ctx, allowDownloads,
		chromedp.SetUploadFiles(chromedp.CSS(`section[data-token="`+id+`"] form.sign input[type=file]`), []string{path}),
	); err != nil {
		f.t.Fatal(err)
	}
	return downloads
}

// signature waits for the sign form of token id's card to offer the
// signature as name, and returns what the browser downloaded into
// downloads.
func (f *pageFixture) signature(id, downloads, name string) []byte {
	f.t.Helper()
	f.wait(card(id) + `.querySelector("details.sign a[download]")`)
	if got := eval[string](f, card(id)+`.querySelector("details.sign a[download]").download`); got != name {
		f.t.Errorf("download named %q, want %q", got, name)
	}
	// Chromium writes the download under a temporary name and renames it
	// when complete.
	for deadline := time.Now().Add(10 * time.Second); ; {
		got, err := os.ReadFile(filepath.Join(downloads, name))
		if err == nil && len(got) > 0 {
			return got
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s not downloaded: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *pageFixture) message(id, form string) string {
	return fmt.Sprintf(`%s.querySelector("details.%s > .msg")`, card(id), form)
}

func TestSelfServicePage(t *testing.T) {
	f, _ := newPageFixture(t, false)
	alice, bob := f.tokenID("alice"), f.tokenID("legacy-bob")
	f.open("en")

	t.Run("headers", func(t *testing.T) {
		resp, err := http.Get(f.origin + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != http.StatusOK || h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("X-Frame-Options") != "DENY" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET /: %s %v", resp.Status, h)
		}
	})

	t.Run("modules", func(t *testing.T) {
		f.t = t
		// The page loaded each of its modules under its
		// Content-Security-Policy (it listed the tokens), and no other
		// script.
		modules, err := fs.Glob(web.Files, "app/*.js")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"/tokenagent.js"}
		for _, m := range modules {
			want = append(want, "/"+m)
		}
		slices.Sort(want)
		got := eval[[]string](f, `[...new Set(performance.getEntriesByType("resource").map((e) => new URL(e.name).pathname).filter((p) => p.endsWith(".js")))].sort()`)
		if !slices.Equal(got, want) {
			t.Errorf("the page loaded the scripts %q, want %q", got, want)
		}
	})

	t.Run("lists tokens and certificates", func(t *testing.T) {
		f.t = t
		v := f.view(alice)
		if v.Label != "alice" || v.PIN != "ok" || v.Media != "" || len(v.Certs) != 2 {
			t.Fatalf("alice shows %+v", v)
		}
		for _, c := range v.Certs {
			switch c.ID {
			case "01":
				if c.Status != "valid" || c.Badge != "Valid" || !strings.HasPrefix(c.Remaining, "1 year 1 month") {
					t.Errorf("certificate 01 shows %+v", c)
				}
			case "02":
				if c.Status != "expiring" || c.Badge != "Expires in 10 days" || c.Remaining != "10 days" {
					t.Errorf("certificate 02 shows %+v", c)
				}
			default:
				t.Errorf("unexpected certificate %+v", c)
			}
		}
		if v := f.view(bob); v.Media != "legacy" || len(v.Certs) != 1 || v.Certs[0].Status != "valid" {
			t.Errorf("legacy-bob shows %+v", v)
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		f.t = t
		dir := f.out
		if err := chromedp.Do(f.ctx, chromedp.EmulateViewport(1100, 900)); err != nil {
			t.Fatal(err)
		}
		requireCJKFont(t)
		for _, lang := range []string{"ru", "zh", "en"} {
			f.open(lang)
			png, err := chromedp.Run(f.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(dir, "selfservice-"+lang+".png")
			if err := os.WriteFile(name, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot %s", name)
			if lang == "en" && *update {
				if err := os.WriteFile(filepath.Join("..", "docs", "screenshot-en.png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got := eval[string](f, `document.querySelector("h1").textContent`); got != "Your security tokens" {
			t.Errorf("English title %q", got)
		}
	})

	t.Run("labels", func(t *testing.T) {
		f.t = t
		unlabelled := eval[[]string](f, `[...document.querySelectorAll("input, select, textarea")].filter((e) => !e.closest("label") && !e.getAttribute("aria-label")).map((e) => e.outerHTML)`)
		if len(unlabelled) != 0 {
			t.Errorf("inputs without a label: %q", unlabelled)
		}
	})

	t.Run("language switch", func(t *testing.T) {
		f.t = t
		eval[bool](f, `(() => { const s = document.getElementById("lang"); s.value = "ru"; s.dispatchEvent(new Event("change")); return true; })()`)
		f.wait(card(alice) + `.querySelector('[data-status="expiring"]').textContent === "Истекает через 10 дн."`)
		eval[bool](f, `(() => { const s = document.getElementById("lang"); s.value = "en"; s.dispatchEvent(new Event("change")); return true; })()`)
		f.wait(card(alice) + `.querySelector('[data-status="expiring"]').textContent === "Expires in 10 days"`)
	})

	t.Run("legacy media explained", func(t *testing.T) {
		f.t = t
		task := card(bob) + `.querySelector('.task[data-task="media"]')`
		f.wait(task + `.querySelector("dd[data-part]")`)
		got := eval[map[string]string](f, `(() => { const c = `+task+`; const r = {title: c.querySelector("strong").textContent, explain: c.querySelector(".explain").textContent,
			next: c.querySelector("[data-part=next]").textContent};
			for (const d of c.querySelectorAll("dd[data-part]")) r[d.dataset.part] = d.textContent; return r; })()`)
		want := map[string]string{"title": "This token is legacy media: Legacy CPP media",
			"explain":   "Your certificate has 20 months 3 days left. When you move to new media, 12 months of it carries over: the certificate on the new media is valid that long. The remaining 8 months 3 days becomes credit with your issuer.",
			"remaining": "20 months 3 days", "carryOver": "12 months", "credit": "8 months 3 days",
			"next": "What to do next: ask your issuer for new media, BJCA token. Keep using this token until it arrives, then get your certificate on the new media."}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("media task shows %v, want %v", got, want)
		}
		// The profile's description, not its id nor its upgrade's; no error style.
		if text := eval[string](f, card(bob)+`.innerText`); strings.Contains(text, "cpp-blue") || strings.Contains(text, "bjca") {
			t.Errorf("the card shows a profile id:\n%s", text)
		}
		if n := eval[int](f, card(bob)+`.querySelectorAll(".msg.error, .badge.bad").length`); n != 0 {
			t.Errorf("legacy-bob's card has %d elements in the error style", n)
		}
		if n := eval[int](f, card(alice)+`.querySelectorAll('.task[data-task="media"]').length`); n != 0 {
			t.Error("alice, not legacy, has a media task")
		}
	})

	t.Run("wrong PIN", func(t *testing.T) {
		f.t = t
		f.submit(alice, "change", map[string]any{"oldPin": "0000", "newPin": "4321", "newPin2": "4321"})
		f.wait(f.message(alice, "change") + `.textContent.startsWith("Wrong PIN.")`)
	})

	t.Run("PIN change", func(t *testing.T) {
		f.t = t
		f.submit(alice, "change", map[string]any{"oldPin": userPIN, "newPin": "4321", "newPin2": "4321"})
		f.wait(f.message(alice, "change") + `.textContent === "The PIN was changed."`)
		if left := eval[string](f, `[...`+card(alice)+`.querySelectorAll("input[type=password]")].map((i) => i.value).join("")`); left != "" {
			t.Errorf("PIN inputs not cleared: %q", left)
		}
	})

	t.Run("sign a file", func(t *testing.T) {
		f.t = t
		dir := t.TempDir()
		data := []byte(strings.Repeat("a document to sign\n", 1000))
		openssl.WriteFiles(t, dir, map[string][]byte{"doc.txt": data, "ca.pem": f.ca.PEM})
		downloads := f.chooseFileToSign(alice, filepath.Join(dir, "doc.txt"))
		f.submit(alice, "sign", map[string]any{"cert": "01", "pin": userPIN})
		f.wait(f.message(alice, "sign") + `.textContent.startsWith("Wrong PIN")`)
		f.submit(alice, "sign", map[string]any{"cert": "01", "pin": "4321"})
		sig := f.signature(alice, downloads, "doc.txt.p7s")
		openssl.WriteFiles(t, dir, map[string][]byte{"doc.txt.p7s": sig})
		if out, ok := openssl.Run(t, dir, "cms", "-verify", "-binary", "-inform", "DER", "-in", "doc.txt.p7s",
			"-content", "doc.txt", "-CAfile", "ca.pem", "-cades", "-out", os.DevNull); !ok {
			t.Errorf("openssl cms -verify: %s", out)
		}
	})

	t.Run("token appears without reload", func(t *testing.T) {
		f.t = t
		eval[bool](f, `window.__sameDocument = true`)
		if err := f.env.InitToken("carol", soPIN, userPIN); err != nil {
			t.Fatal(err)
		}
		f.wait(`[...document.querySelectorAll("section.token h2")].some((h) => h.textContent === "carol") && window.__sameDocument`)
	})

	t.Run("unlock", func(t *testing.T) {
		f.t = t
		// The unlock is offered once a wrong PIN was entered, not before.
		if eval[bool](f, card(bob)+`.querySelector("details.unlock") !== null`) {
			t.Error("legacy-bob offers the unlock before any wrong PIN")
		}
		f.submit(bob, "change", map[string]any{"oldPin": "0000", "newPin": "5555", "newPin2": "5555"})
		f.wait(f.message(bob, "change") + `.textContent.startsWith("Wrong PIN.")`)
		f.wait(card(bob) + `.querySelector("details.unlock")`)
		f.submit(bob, "unlock", map[string]any{"soPin": "87654321", "newPin": "5555", "newPin2": "5555"})
		f.wait(f.message(bob, "unlock") + `.textContent.startsWith("Wrong unlock code (SO PIN).")`)
		f.submit(bob, "unlock", map[string]any{"soPin": soPIN, "newPin": "5555", "newPin2": "5556"})
		f.wait(f.message(bob, "unlock") + `.textContent === "The two new PINs differ."`)
		f.submit(bob, "unlock", map[string]any{"soPin": soPIN, "newPin": "5555", "newPin2": "5555"})
		f.wait(f.message(bob, "unlock") + `.textContent === "The PIN was unlocked and set."`)
		f.submit(bob, "change", map[string]any{"oldPin": "5555", "newPin": "6666", "newPin2": "6666"})
		f.wait(f.message(bob, "change") + `.textContent === "The PIN was changed."`)
	})

	t.Run("rate limited", func(t *testing.T) {
		f.t = t
		carol := f.tokenID("carol")
		for i := range 3 {
			f.submit(carol, "change", map[string]any{"oldPin": "0000", "newPin": "4321", "newPin2": "4321"})
			f.wait(fmt.Sprintf(`%s.textContent.startsWith("Wrong PIN.") && %s.dataset.n !== "%d" && (%s.dataset.n = "%d")`,
				f.message(carol, "change"), f.message(carol, "change"), i, f.message(carol, "change"), i))
		}
		f.submit(carol, "change", map[string]any{"oldPin": userPIN, "newPin": "4321", "newPin2": "4321"})
		f.wait(f.message(carol, "change") + `.textContent.startsWith("Too many wrong PINs were entered for this token. Try again in ")`)
	})

	t.Run("agent unreachable", func(t *testing.T) {
		f.t = t
		f.stop()
		f.wait(`document.getElementById("notice").textContent.startsWith("The tokenagent service is not running")`)
	})
}

// TestSelfServicePagePINStates shows the final-try and locked PIN states,
// which SoftHSM cannot reach, through the fault-injecting shim.
func TestSelfServicePagePINStates(t *testing.T) {
	f, ctl := newPageFixture(t, true)
	alice := f.tokenID("alice")
	f.open("en")
	badge := card(alice) + `.querySelector("[data-pin]").dataset.pin`

	t.Run("final try", func(t *testing.T) {
		f.t = t
		ctl.Set(t, "slot_label = alice", "token_flags_set = CKF_USER_PIN_FINAL_TRY")
		f.wait(badge + ` === "finalTry"`)
		f.submit(alice, "change", map[string]any{"oldPin": userPIN, "newPin": "4321", "newPin2": "4321"})
		f.wait(f.message(alice, "change") + `.textContent === "The PIN has only one try left: one more wrong PIN locks the token. Confirm that you want to use it, then try again."`)
		if hidden := eval[bool](f, card(alice)+`.querySelector("form.change .final").hidden`); hidden {
			t.Error("the final-try confirmation is hidden")
		}
		f.submit(alice, "change", map[string]any{"oldPin": userPIN, "newPin": "4321", "newPin2": "4321", "confirmFinalTry": true})
		f.wait(f.message(alice, "change") + `.textContent === "The PIN was changed."`)
	})

	t.Run("locked", func(t *testing.T) {
		f.t = t
		ctl.Set(t, "slot_label = alice", "token_flags_set = CKF_USER_PIN_LOCKED")
		f.wait(badge + ` === "locked" && ` + card(alice) + `.querySelector('.task[data-task="unlock"] details.unlock').open`)
		// The unlock leads; what needs the locked PIN is not offered.
		if first := eval[string](f, card(alice)+`.querySelector(".tasks > .task").dataset.task`); first != "unlock" {
			t.Errorf("the first task is %q, not the unlock", first)
		}
		if title := eval[string](f, card(alice)+`.querySelector('.task[data-task="unlock"] strong').textContent`); title != "Your PIN is locked" {
			t.Errorf("unlock task titled %q", title)
		}
		if n := eval[int](f, card(alice)+`.querySelectorAll("details.change, details.sign, details.renew, .task[data-task=renew]").length`); n != 0 {
			t.Errorf("a locked PIN still offers %d actions that need it", n)
		}
		// The shim keeps the flag until told: the page shows the outcome
		// while the unlock is still its task.
		f.submit(alice, "unlock", map[string]any{"soPin": soPIN, "newPin": "5555", "newPin2": "5555"})
		f.wait(f.message(alice, "unlock") + `.textContent === "The PIN was unlocked and set."`)
		ctl.Set(t)
		f.wait(badge + ` === "ok" && ` + card(alice) + `.querySelector("details.change")`)
	})
}

// requireCJKFont checks that fontconfig, which Chromium renders with, has a
// font for Chinese (make deps installs fonts-noto-cjk); without one every
// character of the Chinese screenshot is an empty box. Under CI its absence
// fails the test.
func requireCJKFont(t *testing.T) {
	t.Helper()
	out, err := exec.Command("fc-list", ":lang=zh", "family").Output()
	if err == nil && strings.TrimSpace(string(out)) != "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no font for Chinese (fc-list :lang=zh: %v %q); make deps installs fonts-noto-cjk", err, out)
	}
	t.Logf("no font for Chinese (fc-list :lang=zh: %v); the Chinese screenshot shows empty boxes", err)
}
