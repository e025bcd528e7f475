package web_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenagent/tokenagent/internal/browsertest"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/ws"
)

// TestPortalExample runs examples/portal as a hosted portal: on public
// HTTPS origins (browsertest.PublicSite), with the client served from its
// own origin. Granted, it lists the certificates of a SoftHSM token and
// signs a text, which OpenSSL then verifies; it also shows the other
// states: the browser's question to come (a Connect button, which headless
// Chromium's denial turns into how to re-enable it), the agent down, and
// an origin the agent does not allow.
func TestPortalExample(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("portal", soPIN, userPIN); err != nil {
		t.Fatal(err)
	}
	ca, err := softhsm.NewCA("Portal CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := env.AddKeyAndCert("portal", userPIN, ca, softhsm.CertSpec{
		KeyAlgorithm: "EC-P256", ID: []byte{0x01}, Label: "portal-sign", Subject: pkix.Name{CommonName: "Portal User"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// An expired certificate, which the page leaves out of its choice.
	if _, _, err := env.AddKeyAndCert("portal", userPIN, ca, softhsm.CertSpec{
		ID: []byte{0x02}, Label: "portal-old", NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(-1, 0, 0),
	}); err != nil {
		t.Fatal(err)
	}
	// examples/portal/tokenagent.js links to web/tokenagent.js.
	site := browsertest.ServePublic(t, http.FileServer(http.Dir("../examples/portal")), portalName, deniedName, foreignName)
	ctx := browsertest.New(t, site.Options()...)
	ag := startAgent(t, ws.Config{AllowedOrigins: []string{site.Origin(portalName), site.Origin(deniedName)}}, env.Module)
	dead := listen(t, "0")
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close() // nothing listens there now
	for _, origin := range []string{site.Origin(portalName), site.Origin(foreignName)} {
		grant(t, ctx, origin)
	}

	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	page := func(name string, agentPort any) string {
		return fmt.Sprintf("%s/index.html?agent=http://127.0.0.1:%v", site.Origin(name), agentPort)
	}
	// state loads url, runs actions, and returns the status's data-state
	// and text once the page shows a state other than "connecting" and
	// before.
	state := func(url, before string, actions ...chromedp.Action[chromedp.Void]) (string, string) {
		t.Helper()
		steps := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(url)}, actions...)
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("driving %s: %v", url, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`new Promise((resolve) => {
			const poll = () => {
				const el = document.getElementById("status");
				const st = el.dataset.state;
				if (st && st !== "connecting" && st !== %q) resolve([st, el.textContent]);
				else setTimeout(poll, 20);
			};
			poll();
		})`, before), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("the status of %s: %v", url, err)
		}
		return got[0], got[1]
	}

	t.Run("granted", func(t *testing.T) {
		text := "I agree to the terms."
		if st, msg := state(page(portalName, ag.port), ""); st != "connected" || !strings.Contains(msg, "1 certificate") {
			t.Fatalf("status %s %q, want connected with the token's one certificate", st, msg)
		}
		err := chromedp.Do(ctx,
			chromedp.SetValue("#text", text),
			chromedp.SendKeys("#pin", userPIN),
			chromedp.Click(`button[type="submit"]`),
			chromedp.WaitVisible(`#result[data-signature]`),
		)
		if err != nil {
			t.Fatalf("signing on the example page: %v", err)
		}
		result, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("result").dataset.signature`))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := base64.StdEncoding.DecodeString(result)
		if err != nil {
			t.Fatalf("signature %q: %v", result, err)
		}
		spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		openssl.WriteFiles(t, dir, map[string][]byte{
			"data.txt": []byte(text), "sig.bin": sig,
			"pub.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}),
		})
		if out, ok := openssl.Run(t, dir, "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "data.txt"); !ok {
			t.Errorf("openssl dgst -verify: %s", out)
		}

		// A wrong PIN: the page says so in a person's words (errorMessage),
		// with what SoftHSM's flags tell after one wrong PIN.
		err = chromedp.Do(ctx,
			chromedp.SendKeys("#pin", "0000"),
			chromedp.Click(`button[type="submit"]`),
			chromedp.WaitVisible(`#result[data-reason]`),
		)
		if err != nil {
			t.Fatalf("signing with a wrong PIN: %v", err)
		}
		said, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[document.getElementById("result").dataset.reason, document.getElementById("result").textContent]`))
		if err != nil {
			t.Fatal(err)
		}
		if said[0] != "PIN_INCORRECT" || !strings.HasPrefix(said[1], "Wrong PIN. The token reports that wrong PINs were entered") {
			t.Errorf("after a wrong PIN the page says %s %q, want PIN_INCORRECT in a person's words", said[0], said[1])
		}
	})
	t.Run("prompt, then denied", func(t *testing.T) {
		url := page(deniedName, ag.port)
		if st, msg := state(url, ""); st != "prompt" {
			t.Fatalf("status %s %q, want prompt", st, msg)
		}
		visible, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("ask").hidden`))
		if err != nil || !visible {
			t.Errorf("the explanation and Connect button are not shown: %v", err)
		}
		// Headless Chromium denies the question that Connect makes it ask.
		if st, msg := state(url, "prompt", chromedp.Click("#connect")); st != "denied" || !strings.Contains(msg, "site settings") {
			t.Errorf("after Connect: status %s %q, want denied with how to allow it", st, msg)
		}
		if st, msg := state(url, ""); st != "denied" {
			t.Errorf("reloaded once denied: status %s %q, want denied at once", st, msg)
		}
	})
	t.Run("agent down", func(t *testing.T) {
		if st, msg := state(page(portalName, deadPort), ""); st != "down" || !strings.Contains(msg, "not running") {
			t.Errorf("status %s %q, want down", st, msg)
		}
	})
	t.Run("origin not allowed", func(t *testing.T) {
		if st, msg := state(page(foreignName, ag.port), ""); st != "not-allowed" || !strings.Contains(msg, site.Origin(foreignName)) {
			t.Errorf("status %s %q, want not-allowed naming the origin", st, msg)
		}
	})
}
