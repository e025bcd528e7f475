package web_test

import (
	"context"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/tokenagent/tokenagent/installer"
	"github.com/tokenagent/tokenagent/internal/browsertest"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/ws"
)

// The test names of the public portal (browsertest.PublicSite), by what
// their origin has: the agent allows every one but foreign.test.
const (
	portalName  = "portal.test"  // granted (CDP, or the managed policy)
	deniedName  = "denied.test"  // never granted: headless Chromium denies the question
	frameName   = "other.test"   // a cross-origin iframe inside portal.test
	legacyName  = "legacy.test"  // granted by the policy's Chrome 142–144 name
	foreignName = "foreign.test" // granted, but not in allowed_origins
	askedName   = "asked.test"   // the headed browser's question stays open
)

// lnaFixture is a portal on a public HTTPS origin, serving the client from
// its own origin as a hosted portal does, and a real agent over a SoftHSM
// token with an EC key and certificate 01.
type lnaFixture struct {
	site  *browsertest.PublicSite
	agent *agentServer
	caPEM []byte

	mu  sync.Mutex
	ctx context.Context // the browser, for /control/deny and /control/grant
}

func newLNAFixture(t *testing.T) *lnaFixture {
	env := softhsm.New(t)
	if err := env.InitToken("lna", soPIN, userPIN); err != nil {
		t.Fatal(err)
	}
	ca, err := softhsm.NewCA("LNA CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.AddKeyAndCert("lna", userPIN, ca, softhsm.CertSpec{
		KeyAlgorithm: "EC-P256", ID: []byte{0x01}, Label: "lna-sign", Subject: pkix.Name{CommonName: "LNA User"},
	}); err != nil {
		t.Fatal(err)
	}
	f := &lnaFixture{caPEM: ca.PEM}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, hostedPage)
	})
	// The very file the agent embeds and the npm package ships.
	mux.HandleFunc("GET /tokenagent.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, "tokenagent.js") })
	mux.Handle("GET /clienttest.js", http.FileServer(http.Dir("testdata")))
	mux.HandleFunc("GET /top", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		q := r.URL.Query()
		src := f.site.Origin(frameName) + "/frame?agent=" + url.QueryEscape(q.Get("agent"))
		fmt.Fprintf(w, topPage, html.EscapeString(q.Get("allow")), html.EscapeString(src))
	})
	mux.HandleFunc("GET /frame", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, framePage)
	})
	mux.HandleFunc("POST /control/{action}", f.control)
	f.site = browsertest.ServePublic(t, mux, portalName, deniedName, frameName, legacyName, foreignName, askedName)
	var allowed []string
	for _, n := range []string{portalName, deniedName, frameName, legacyName, askedName} {
		allowed = append(allowed, f.site.Origin(n))
	}
	f.agent = startAgent(t, ws.Config{AllowedOrigins: allowed}, env.Module)
	return f
}

// browser starts Chromium for the fixture's site with extra options.
func (f *lnaFixture) browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	ctx := browsertest.New(t, append(f.site.Options(), extra...)...)
	f.mu.Lock()
	f.ctx = ctx
	f.mu.Unlock()
	return ctx
}

// control lets a page's test act on the browser and the agent: deny or
// grant its own origin the permission, or restart the agent.
func (f *lnaFixture) control(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	ctx := f.ctx
	f.mu.Unlock()
	origin := r.Header.Get("Origin")
	var err error
	switch r.PathValue("action") {
	case "deny":
		err = browsertest.SetPermission(ctx, origin, browser.PermissionSettingDenied)
	case "grant":
		err = browsertest.SetPermission(ctx, origin, browser.PermissionSettingGranted)
	case "restart":
		err = f.agent.restart()
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil { // the page's test reports it
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// grant grants origin the permission, as a user's "Allow" would.
func grant(t *testing.T, ctx context.Context, origin string) {
	t.Helper()
	if err := browsertest.SetPermission(ctx, origin, browser.PermissionSettingGranted); err != nil {
		t.Fatal(err)
	}
}

// cfg is the configuration of the page's tests.
func (f *lnaFixture) cfg(tests ...string) map[string]any {
	return map[string]any{
		"tests":  tests,
		"agent":  "ws://127.0.0.1:" + f.agent.port + "/ws",
		"health": "http://127.0.0.1:" + f.agent.port + "/healthz",
		"token":  "lna",
		"pin":    userPIN,
		"text":   "signed on a public origin",
	}
}

// verifyCMS checks a detached CMS signature (sign's default) of cfg's text
// with OpenSSL, against the fixture's CA.
func (f *lnaFixture) verifyCMS(t *testing.T, r jsResult) {
	t.Helper()
	var b64 string
	if err := json.Unmarshal(r.Value, &b64); err != nil || b64 == "" {
		t.Fatalf("no signature from the page: %s", r.Value)
	}
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	text := f.cfg()["text"].(string)
	openssl.WriteFiles(t, dir, map[string][]byte{"sig.p7s": der, "ca.pem": f.caPEM, "text.txt": []byte(text)})
	if out, ok := openssl.Run(t, dir, "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7s",
		"-content", "text.txt", "-CAfile", "ca.pem", "-out", os.DevNull); !ok {
		t.Errorf("openssl cms -verify: %s", out)
	}
}

// hostedPage imports the client from its own origin, as the README tells
// portals to.
const hostedPage = `<!doctype html>
<meta charset="utf-8">
<title>tokenagent.js on a public origin</title>
<script type="module" onerror="window.__importError = 'importing the modules failed'">
import * as client from "/tokenagent.js";
import { run } from "/clienttest.js";
window.__run = (cfg) => run(client, cfg);
</script>
`

// topPage frames /frame from another origin with the allow attribute
// given; window.__frame resolves with what the frame reports.
const topPage = `<!doctype html>
<meta charset="utf-8">
<title>a portal with a frame</title>
<script>
window.__frame = new Promise((resolve) => addEventListener("message", (ev) => resolve(ev.data)));
</script>
<iframe allow="%s" src="%s"></iframe>
`

// framePage connects from inside the frame and posts the permission and
// the outcome to its parent.
const framePage = `<!doctype html>
<meta charset="utf-8">
<script type="module">
import { connect, localNetworkPermission } from "/tokenagent.js";
const report = (outcome) => localNetworkPermission().then((permission) => parent.postMessage({ permission, outcome }, "*"));
try {
  const agent = await connect(new URLSearchParams(location.search).get("agent"));
  const { tokens } = await agent.call("tokens.list", {});
  agent.close();
  report("tokens " + tokens.map((t) => t.label).join(","));
} catch (err) {
  report(err.reason || String(err));
}
</script>
`

type frameReport struct {
	Permission string `json:"permission"`
	Outcome    string `json:"outcome"`
}

// frame loads portal.test's page that frames other.test, with allow.
func (f *lnaFixture) frame(t *testing.T, ctx context.Context, allow string) frameReport {
	t.Helper()
	u := f.site.Origin(portalName) + "/top?allow=" + url.QueryEscape(allow) + "&agent=" + url.QueryEscape(f.cfg()["agent"].(string))
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("loading %s: %v", u, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[frameReport](`window.__frame`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("the frame's report: %v", err)
	}
	return got
}

// TestLocalNetworkAccess runs the client on public HTTPS origins, which
// Chromium gates: without the permission (headless Chromium denies the
// question) connect rejects with LOCAL_NETWORK_DENIED within a second;
// granted through CDP, it connects, lists the token and signs (OpenSSL
// verifies the CMS), reads /healthz through CORS, and reconnection waits
// while the permission is denied; granted but not in allowed_origins, it
// says the agent runs.
func TestLocalNetworkAccess(t *testing.T) {
	f := newLNAFixture(t)
	ctx := f.browser(t)

	t.Run("no permission", func(t *testing.T) {
		runPage(t, ctx, f.site.Origin(deniedName)+"/page", f.cfg("denied"))
		if logs := f.agent.logs.String(); strings.Contains(logs, "refused") {
			t.Errorf("the agent saw the denied page's requests:\n%s", logs)
		}
	})
	t.Run("granted", func(t *testing.T) {
		grant(t, ctx, f.site.Origin(portalName))
		res := runPage(t, ctx, f.site.Origin(portalName)+"/page", f.cfg("sign", "health", "paused"))
		f.verifyCMS(t, res["sign"])
	})
	t.Run("granted, origin not allowed", func(t *testing.T) {
		grant(t, ctx, f.site.Origin(foreignName))
		runPage(t, ctx, f.site.Origin(foreignName)+"/page", f.cfg("refused"))
	})
}

// TestLocalNetworkPolicy: the same portal, allowed by the managed policy
// file the installer ships (installer.BrowserPolicies) instead of a user's
// answer, and a cross-origin iframe in it, which gets the permission only
// with allow="loopback-network"; then the policy's name of Chrome 142–144
// alone.
func TestLocalNetworkPolicy(t *testing.T) {
	f := newLNAFixture(t)
	files, err := installer.BrowserPolicies([]string{f.site.Origin(portalName)})
	if err != nil {
		t.Fatal(err)
	}
	var linux []byte
	for _, pf := range files {
		if pf.Name == "chromium-linux.json" {
			linux = pf.Content
		}
	}
	ctx := f.browser(t, browsertest.ManagedPolicy(t, map[string][]byte{"tokenagent.json": linux}))

	t.Run("the installer's policy", func(t *testing.T) {
		res := runPage(t, ctx, f.site.Origin(portalName)+"/page", f.cfg("sign"))
		f.verifyCMS(t, res["sign"])
	})
	t.Run("iframe without allow", func(t *testing.T) {
		if got := f.frame(t, ctx, ""); got != (frameReport{Permission: "denied", Outcome: "LOCAL_NETWORK_DENIED"}) {
			t.Errorf("the frame reports %+v, want denied and LOCAL_NETWORK_DENIED", got)
		}
	})
	t.Run("iframe with allow", func(t *testing.T) {
		if got := f.frame(t, ctx, browsertest.LoopbackPermission); got != (frameReport{Permission: "granted", Outcome: "tokens lna"}) {
			t.Errorf("the frame reports %+v, want granted and the token", got)
		}
	})
	t.Run("LocalNetworkAccessAllowedForUrls alone", func(t *testing.T) {
		legacy := fmt.Sprintf(`{"LocalNetworkAccessAllowedForUrls": [%q]}`, f.site.Origin(legacyName))
		ctx := f.browser(t, browsertest.ManagedPolicy(t, map[string][]byte{"legacy.json": []byte(legacy)}))
		runPage(t, ctx, f.site.Origin(legacyName)+"/page", f.cfg("sign"))
	})
}

// TestLocalNetworkQuestion runs a headed Chromium (on Xvfb), whose question
// to the user stays open: connect waits past its connectTimeout, and
// rejects with LOCAL_NETWORK_DENIED once the answer is "deny".
func TestLocalNetworkQuestion(t *testing.T) {
	f := newLNAFixture(t)
	ctx := f.browser(t, browsertest.Visible(t)...)
	res := runPage(t, ctx, f.site.Origin(askedName)+"/page", f.cfg("waits"))
	t.Logf("the question was open for %s ms", res["waits"].Value)
}

// TestSelfServicePageNeverAsks: the agent's own page is on loopback, which
// Chromium never asks about; even with the permission stored as denied for
// its origin (which Chromium then ignores), the page connects and lists.
func TestSelfServicePageNeverAsks(t *testing.T) {
	ag := startAgent(t, ws.Config{})
	ctx := browsertest.New(t)
	own := "http://127.0.0.1:" + ag.port
	if err := browsertest.SetPermission(ctx, own, browser.PermissionSettingDenied); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(own+"/"), chromedp.WaitReady(`body[data-ready="1"]`)); err != nil {
		t.Fatalf("the self-service page did not connect: %v", err)
	}
	notice, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("notice").textContent`))
	if err != nil || notice != "" {
		t.Errorf("notice %q, %v; want none", notice, err)
	}
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.permissions.query({ name: "loopback-network" }).then((s) => s.state)`, chromedp.EvalAwaitPromise))
	if err != nil || stored != "denied" {
		t.Errorf("the stored permission is %q, %v; the test wants it denied", stored, err)
	}
}
