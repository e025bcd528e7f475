package web_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/tokenagent/tokenagent/internal/browsertest"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/ws"
)

// consentTimeout is the short agent's consent timeout: long enough for a
// window to open on a loaded machine, short enough to wait for.
const consentTimeout = 4 * time.Second

// consentFixture is examples/portal on a public HTTPS origin, with a
// SoftHSM token, and the agent served twice: with the default consent
// timeout and with consentTimeout. It records the WebSocket frames the
// portal's tab sends.
type consentFixture struct {
	t            *testing.T
	ctx          context.Context // the portal's tab
	site         *browsertest.PublicSite
	agent, short *agentServer
	caPEM        []byte
	out          string // where screenshots go

	mu     sync.Mutex
	frames []string // sent by the portal's tab, in order
}

func newConsentFixture(t *testing.T) *consentFixture {
	env := softhsm.New(t)
	if err := env.InitToken("portal", soPIN, userPIN); err != nil {
		t.Fatal(err)
	}
	ca, err := softhsm.NewCA("Consent CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.AddKeyAndCert("portal", userPIN, ca, softhsm.CertSpec{
		KeyAlgorithm: "EC-P256", ID: []byte{0x01}, Label: "portal-sign", Subject: pkix.Name{CommonName: "Portal User", Organization: []string{"Example"}},
	}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir("../examples/portal"))) // its tokenagent.js links to web/tokenagent.js
	site := browsertest.ServePublic(t, mux, portalName)
	f := &consentFixture{t: t, site: site, caPEM: ca.PEM, out: os.Getenv("TOKENAGENT_TESTOUT")}
	if f.out == "" {
		f.out = t.TempDir()
	}
	cfg := ws.Config{AllowedOrigins: []string{site.Origin(portalName)}}
	f.agent = startAgent(t, cfg, env.Module)
	cfg.ConsentTimeout = consentTimeout
	f.short = f.agent.alongside(t, cfg)
	f.ctx = browsertest.New(t, site.Options()...)
	grant(t, f.ctx, site.Origin(portalName))
	if _, err := chromedp.Call(f.ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Listen(f.ctx, func(ev any) {
		if e, ok := ev.(*network.EventWebSocketFrameSent); ok && e.Response != nil {
			f.mu.Lock()
			f.frames = append(f.frames, string(e.Response.PayloadData))
			f.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

// open loads the portal page at agent a and waits until it has listed the
// token's certificate.
func (f *consentFixture) open(a *agentServer) {
	f.t.Helper()
	url := fmt.Sprintf("%s/index.html?agent=http://127.0.0.1:%s", f.site.Origin(portalName), a.port)
	if err := chromedp.Do(f.ctx, chromedp.Navigate(url)); err != nil {
		f.t.Fatal(err)
	}
	waitJS(f.t, f.ctx, `document.getElementById("status").dataset.state === "connected" && !document.getElementById("sign").hidden`)
}

// waitJS waits until the JavaScript expression cond is true in ctx's tab.
func waitJS(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	if err := poll(ctx, cond); err != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("waiting for %s: %v\npage:\n%s", cond, err, text)
	}
}

// poll waits, for 30 s at most, until cond is true in ctx's tab.
func poll(ctx context.Context, cond string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	js := fmt.Sprintf(`new Promise((resolve) => { const poll = () => { try { if (%s) return resolve(true); } catch {} setTimeout(poll, 20); }; poll(); })`, cond)
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
	return err
}

func evalJS[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// consentWindow is the consent window the portal opened.
type consentWindow struct {
	ctx   context.Context
	id    target.ID
	url   string
	nonce string
}

// signWithConsent sets the text and clicks "Sign with consent" on the
// portal, and returns the consent window that opens, once it shows the
// request.
func (f *consentFixture) signWithConsent(text string) consentWindow {
	f.t.Helper()
	evalJS[bool](f.t, f.ctx, fmt.Sprintf(`(() => { document.getElementById("text").value = %q; const r = document.getElementById("result");
		delete r.dataset.signature; delete r.dataset.reason; return true; })()`, text))
	return f.clickForConsent("#sign-consent")
}

// clickForConsent clicks the portal's button sel, which makes a call with
// consent, and returns the consent window that opens, once it shows the
// request.
func (f *consentFixture) clickForConsent(sel string) consentWindow {
	f.t.Helper()
	opened := chromedp.WaitNewTarget(f.ctx, func(info *target.Info) bool { return strings.Contains(info.URL, "/consent?n=") })
	if err := chromedp.Do(f.ctx, chromedp.Click(sel)); err != nil {
		f.t.Fatal(err)
	}
	var id target.ID
	select {
	case id = <-opened:
	case <-time.After(20 * time.Second):
		f.t.Fatal("no consent window opened")
	}
	ctx, cancel := chromedp.NewContext(f.ctx, chromedp.WithTargetID(id))
	f.t.Cleanup(cancel)
	// The first run attaches the target for as long as its context
	// lives: this one's, not a timeout's.
	if err := chromedp.Do(ctx); err != nil {
		f.t.Fatal(err)
	}
	w := consentWindow{ctx: ctx, id: id}
	w.url = evalJS[string](f.t, ctx, `location.href`)
	w.nonce = regexp.MustCompile(`[?&]n=([A-Za-z0-9_-]+)`).FindStringSubmatch(w.url)[1]
	if err := poll(ctx, `document.body.dataset.state === "request"`); err != nil {
		f.t.Fatalf("the consent window shows no request (%v); the portal shows %q", err, evalJS[string](f.t, f.ctx, `document.getElementById("result").textContent`))
	}
	return w
}

// consentView is what the consent window shows.
type consentView struct {
	Origin, Operation, Description, Subject, Issuer, Items, Retry string
}

func (w consentWindow) view(t *testing.T) consentView {
	t.Helper()
	return evalJS[consentView](t, w.ctx, `(() => { const x = (id) => (document.getElementById(id) || {}).textContent || "";
		return { Origin: x("origin"), Operation: x("operation"), Description: x("description-text"), Subject: x("cert-subject"),
			Issuer: x("cert-issuer"), Items: x("items"), Retry: document.getElementById("retry").hidden ? "" : x("retry") }; })()`)
}

// approve types pin into the window and clicks Approve once it may.
func (w consentWindow) approve(t *testing.T, pin string) {
	t.Helper()
	waitJS(t, w.ctx, `!document.getElementById("approve").disabled`)
	if err := chromedp.Do(w.ctx, chromedp.SendKeys("#pin", pin), chromedp.Click("#approve")); err != nil {
		t.Fatal(err)
	}
	// The click's handler has run: the answer is built and sent, and
	// the PIN has left the field.
	if left := evalJS[string](t, w.ctx, `[...document.querySelectorAll("input[type=password]")].map((i) => i.value).join("")`); left != "" {
		t.Errorf("the PIN fields hold %q after Approve", left)
	}
}

// outcome waits for the portal's result: the signature, or the reason.
func (f *consentFixture) outcome() (signature, reason string) {
	f.t.Helper()
	waitJS(f.t, f.ctx, `document.getElementById("result").dataset.signature || document.getElementById("result").dataset.reason`)
	got := evalJS[[]string](f.t, f.ctx, `[document.getElementById("result").dataset.signature || "", document.getElementById("result").dataset.reason || ""]`)
	return got[0], got[1]
}

// verify checks a detached CMS signature of text with OpenSSL.
func (f *consentFixture) verify(t *testing.T, text, signature string) {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	openssl.WriteFiles(t, dir, map[string][]byte{"sig.p7s": der, "ca.pem": f.caPEM, "text.txt": []byte(text)})
	if out, ok := openssl.Run(t, dir, "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7s",
		"-content", "text.txt", "-CAfile", "ca.pem", "-cades", "-out", os.DevNull); !ok {
		t.Errorf("openssl cms -verify: %s", out)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestConsentInBrowser signs from examples/portal with consent: the
// consent window opens on the agent's origin, shows the portal's origin,
// the certificate and the data's SHA-256, takes the PIN and approves; the
// portal gets a CMS signature that OpenSSL verifies, and the PIN never
// reached the portal's page: the agent received no PIN member from it and
// none of the frames its tab sent holds the PIN. Then the other outcomes.
func TestConsentInBrowser(t *testing.T) {
	f := newConsentFixture(t)
	portal := f.site.Origin(portalName)

	t.Run("approve", func(t *testing.T) {
		f.t = t
		f.open(f.agent)
		text := "I agree to the terms of contract 42."
		w := f.signWithConsent(text)
		if !strings.HasPrefix(w.url, "http://127.0.0.1:"+f.agent.port+"/consent?n=") {
			t.Errorf("the consent window is at %s, not on the agent's origin", w.url)
		}
		v := w.view(t)
		if v.Origin != portal || v.Operation != "Sign data with your certificate" || v.Subject != "CN=Portal User,O=Example" ||
			v.Issuer != "CN=Consent CA" || v.Items != sha256Hex(text) || !strings.Contains(v.Description, "contract 42") {
			t.Errorf("the consent window shows %+v", v)
		}
		w.approve(t, userPIN)
		sig, reason := f.outcome()
		if reason != "" {
			t.Fatalf("the portal got %s", reason)
		}
		f.verify(t, text, sig)

		// The portal's page never had the PIN.
		f.mu.Lock()
		frames := append([]string(nil), f.frames...)
		f.mu.Unlock()
		sent := false
		for _, fr := range frames {
			if strings.Contains(fr, userPIN) {
				t.Errorf("the portal's tab sent the PIN: %s", fr)
			}
			sent = sent || strings.Contains(fr, `"method":"sign"`) && strings.Contains(fr, w.nonce)
		}
		if !sent {
			t.Errorf("no sign call among the %d frames the portal's tab sent: %q", len(frames), frames)
		}
		if !regexp.MustCompile(`msg=params origin=` + regexp.QuoteMeta(portal) + ` .*method=sign members="\[cert consent data format token\]"`).MatchString(f.agent.logs.String()) {
			t.Errorf("the agent's log shows no sign call without a PIN from the portal:\n%s", f.agent.logs.String())
		}
		if !strings.Contains(f.agent.audit.String(), `"consent":"agent"`) {
			t.Errorf("audit log: %s", f.agent.audit.String())
		}
		waitGone(t, f.ctx, w.id)

		// The nonce is used up: a window for it shows an error.
		tab, cancel := chromedp.NewContext(f.ctx)
		defer cancel()
		if err := chromedp.Do(tab, chromedp.Navigate(w.url)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, tab, `document.body.dataset.state === "error" && document.getElementById("status").textContent.includes("already ended")`)
	})

	t.Run("wrong PIN, then the right one", func(t *testing.T) {
		f.t = t
		f.open(f.agent)
		text := "retry"
		w := f.signWithConsent(text)
		w.approve(t, "0000")
		// The request comes again with the warning, and Approve waits
		// 500 ms again: measured from when the page shows it.
		delay := evalJS[float64](t, w.ctx, `new Promise((resolve) => { let t0 = 0; const poll = () => {
			const b = document.getElementById("approve"), shown = document.body.dataset.state === "request" && !document.getElementById("retry").hidden;
			if (shown && !t0) { if (!b.disabled) return resolve(-1); t0 = performance.now(); }
			if (t0 && !b.disabled) return resolve(performance.now() - t0);
			setTimeout(poll, 5); }; poll(); })`)
		if delay < 450 {
			t.Errorf("Approve enabled %v ms after the request showed, want 500", delay)
		}
		if v := w.view(t); !strings.HasPrefix(v.Retry, "Wrong PIN.") {
			t.Errorf("after a wrong PIN the window shows %+v", v)
		}
		w.approve(t, userPIN)
		sig, reason := f.outcome()
		if reason != "" {
			t.Fatalf("the portal got %s", reason)
		}
		f.verify(t, text, sig)
	})

	t.Run("languages and a narrow window", func(t *testing.T) {
		f.t = t
		f.open(f.agent)
		w := f.signWithConsent("languages")
		if err := chromedp.Do(w.ctx, chromedp.EmulateViewport(360, 740)); err != nil {
			t.Fatal(err)
		}
		requireCJKFont(t)
		for _, lang := range []struct{ code, operation string }{
			{"ru", "Подписать данные вашим сертификатом"}, {"zh", "用您的证书签署数据"}, {"en", "Sign data with your certificate"},
		} {
			evalJS[bool](t, w.ctx, `(() => { const s = document.getElementById("lang"); s.value = "`+lang.code+`"; s.dispatchEvent(new Event("change")); return true; })()`)
			if got := w.view(t).Operation; got != lang.operation {
				t.Errorf("%s: operation %q, want %q", lang.code, got, lang.operation)
			}
			if width := evalJS[int](t, w.ctx, `document.documentElement.scrollWidth`); width > 360 {
				t.Errorf("%s: the consent page is %d px wide in a 360 px window", lang.code, width)
			}
			png, err := chromedp.Run(w.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(f.out, "consent-360-"+lang.code+".png")
			if err := os.WriteFile(name, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot %s", name)
		}
		waitJS(t, w.ctx, `!document.getElementById("approve").disabled`)
		if err := chromedp.Do(w.ctx, chromedp.Click("#deny")); err != nil {
			t.Fatal(err)
		}
		if _, reason := f.outcome(); reason != "CONSENT_DENIED" {
			t.Errorf("denied: the portal got %q, want CONSENT_DENIED", reason)
		}
	})

	t.Run("batch", func(t *testing.T) {
		f.t = t
		f.open(f.agent)
		texts := []string{"first", "second", "third"}
		var items []map[string]string
		var hashes []string
		for _, s := range texts {
			items = append(items, map[string]string{"data": base64.StdEncoding.EncodeToString([]byte(s))})
			hashes = append(hashes, sha256Hex(s))
		}
		// The portal's own script sends the batch with a nonce of its
		// own (the contract's consent param, which the client passes
		// on), and the person opens the consent page for it in a tab.
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		nonce := base64.RawURLEncoding.EncodeToString(b)
		evalJS[bool](t, f.ctx, fmt.Sprintf(`import("/tokenagent.js").then(async (m) => {
			const a = await m.connect("ws://127.0.0.1:%s/ws");
			window.__batch = a.call("sign.batch", { token: %q, cert: "01", items: %s, consent: { nonce: %q } })
				.then((r) => String(r.signatures.length), (e) => e.reason);
			return true;
		})`, f.agent.port, f.tokenID(), mustJSON(t, items), nonce))
		tab, cancel := chromedp.NewContext(f.ctx)
		defer cancel()
		if err := chromedp.Do(tab, chromedp.Navigate("http://127.0.0.1:"+f.agent.port+"/consent?n="+nonce)); err != nil {
			t.Fatal(err)
		}
		w := consentWindow{ctx: tab, nonce: nonce}
		waitJS(t, tab, `document.body.dataset.state === "request"`)
		if op := w.view(t).Operation; op != "Sign 3 items with your certificate" {
			t.Errorf("operation %q", op)
		}
		shown := evalJS[[]string](t, w.ctx, `(() => { document.querySelector("#items details").open = true;
			return [...document.querySelectorAll("#items li")].map((li) => li.textContent); })()`)
		if fmt.Sprint(shown) != fmt.Sprint(hashes) {
			t.Errorf("the window lists %q, want %q", shown, hashes)
		}
		w.approve(t, userPIN)
		if n := evalJS[string](t, f.ctx, `window.__batch`); n != "3" {
			t.Errorf("sign.batch with consent: %s", n)
		}
	})

	t.Run("window closed", func(t *testing.T) {
		f.t = t
		f.open(f.agent)
		w := f.signWithConsent("closed")
		if _, err := chromedp.CallBrowser(f.ctx, target.CloseTarget, target.CloseTargetParams{TargetID: w.id}); err != nil {
			t.Fatal(err)
		}
		if _, reason := f.outcome(); reason != "CONSENT_DENIED" {
			t.Errorf("window closed: the portal got %q, want CONSENT_DENIED", reason)
		}
	})

	t.Run("nonce of another connection", func(t *testing.T) {
		f.t = t
		f.open(f.agent)
		text := "the first call's"
		w := f.signWithConsent(text)
		// A second socket from the portal's page sends its own call with
		// the nonce the window shows.
		got := evalJS[string](t, f.ctx, fmt.Sprintf(`new Promise((resolve) => {
			const ws = new WebSocket("ws://127.0.0.1:%s/ws");
			ws.onopen = () => ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "sign", params: {
				token: %q, cert: "01", data: btoa("another call"), consent: { nonce: %q } } }));
			ws.onmessage = (e) => { ws.close(); const m = JSON.parse(e.data); resolve(m.error ? m.error.data.reason : "result"); };
			ws.onclose = () => resolve("closed");
		})`, f.agent.port, f.tokenID(), w.nonce))
		if got != "INVALID_PARAMS" {
			t.Errorf("a second call with the window's nonce got %s, want INVALID_PARAMS", got)
		}
		if v := w.view(t); v.Items != sha256Hex(text) {
			t.Errorf("the window shows %+v, not the first call", v)
		}
		w.approve(t, userPIN)
		sig, reason := f.outcome()
		if reason != "" {
			t.Fatalf("the portal got %s", reason)
		}
		f.verify(t, text, sig)
	})

	t.Run("no answer", func(t *testing.T) {
		f.t = t
		f.open(f.short)
		start := time.Now()
		f.signWithConsent("no answer")
		if _, reason := f.outcome(); reason != "CONSENT_TIMEOUT" {
			t.Errorf("no answer: the portal got %q, want CONSENT_TIMEOUT", reason)
		}
		if d := time.Since(start); d < consentTimeout {
			t.Errorf("CONSENT_TIMEOUT after %v, before the timeout of %v", d, consentTimeout)
		}
	})

	t.Run("made-up nonce", func(t *testing.T) {
		f.t = t
		tab, cancel := chromedp.NewContext(f.ctx)
		defer cancel()
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		if err := chromedp.Do(tab, chromedp.Navigate("http://127.0.0.1:"+f.short.port+"/consent?n="+base64.RawURLEncoding.EncodeToString(b))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, tab, `document.body.dataset.state === "error" && document.getElementById("status").textContent.startsWith("There is no request")`)
		if n := evalJS[int](t, tab, `document.querySelectorAll("#consent:not([hidden]) button:not([disabled])").length`); n != 0 {
			t.Errorf("%d buttons to press on a window without a request", n)
		}
	})
}

// tokenID is the id of the token portal.
func (f *consentFixture) tokenID() string {
	f.t.Helper()
	tokens, err := f.agent.agent.Tokens(context.Background())
	if err != nil || len(tokens) != 1 {
		f.t.Fatalf("tokens %v: %v", tokens, err)
	}
	return tokens[0].ID
}

// waitGone waits until the target id has closed.
func waitGone(t *testing.T, ctx context.Context, id target.ID) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		targets, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(targets, func(info *target.Info) bool { return info.TargetID == id }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the consent window is still open after the call")
		}
	}
}

// framingPage frames the consent page for the nonce of a call it makes
// itself, as a click-jacking page would; window.__outcome resolves with
// the call's outcome.
const framingPage = `<!doctype html>
<meta charset="utf-8">
<title>a page that frames the consent page</title>
<script>
const q = new URLSearchParams(location.search);
window.__outcome = new Promise((resolve) => {
  const ws = new WebSocket(q.get("agent"));
  ws.onopen = () => {
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "sign", params: {
      token: q.get("token"), cert: "01", data: btoa("framed"), consent: { nonce: q.get("n") } } }));
    const frame = document.createElement("iframe");
    frame.src = q.get("consent");
    document.body.append(frame);
  };
  ws.onmessage = (e) => { const m = JSON.parse(e.data); resolve(m.error ? m.error.data.reason : "result"); };
});
</script>
`

// TestConsentPageRefusesFraming: a page on an allowed origin frames the
// consent page for its own held call; the browser refuses to show it
// (frame-ancestors 'none'), so no window ever asks for the call, which
// ends CONSENT_UNAVAILABLE.
func TestConsentPageRefusesFraming(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("framed", soPIN, userPIN); err != nil {
		t.Fatal(err)
	}
	ca, err := softhsm.NewCA("Framing CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.AddKeyAndCert("framed", userPIN, ca, softhsm.CertSpec{KeyAlgorithm: "EC-P256", ID: []byte{0x01}, Label: "framed", Subject: pkix.Name{CommonName: "Framed"}}); err != nil {
		t.Fatal(err)
	}
	// A page on loopback, which Chromium lets frame loopback without
	// asking: only the consent page's own headers can refuse the frame.
	pageLn := listen(t, "0")
	pages := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, framingPage)
	})}
	go func() { _ = pages.Serve(pageLn) }()
	t.Cleanup(func() { _ = pages.Close() })
	pageOrigin := "http://" + pageLn.Addr().String()
	ag := startAgent(t, ws.Config{AllowedOrigins: []string{pageOrigin}, ConsentTimeout: consentTimeout}, env.Module)
	tokens, err := ag.agent.Tokens(context.Background())
	if err != nil || len(tokens) != 1 {
		t.Fatalf("tokens %v: %v", tokens, err)
	}
	ctx := browsertest.New(t)

	b := make([]byte, 32)
	_, _ = rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b)
	u := pageOrigin + "/?" + url.Values{"agent": {"ws://127.0.0.1:" + ag.port + "/ws"}, "token": {tokens[0].ID}, "n": {nonce},
		"consent": {"http://127.0.0.1:" + ag.port + "/consent?n=" + nonce}}.Encode()
	if outcome := run[string](t, ctx, u, `window.__outcome`); outcome != "CONSENT_UNAVAILABLE" {
		t.Errorf("the framing page's call ended %s, want CONSENT_UNAVAILABLE", outcome)
	}
	if logs := ag.logs.String(); strings.Contains(logs, "consent window opened") {
		t.Errorf("a consent window opened inside the frame:\n%s", logs)
	}
}
