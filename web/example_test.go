package web_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/browsertest"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
	"github.com/tokenagent/tokenagent/ws"
)

// TestPortalExample runs examples/portal as a portal on its own origin
// would: served from a second loopback origin that the agent allows, it
// imports the client from the agent, lists the certificates of a SoftHSM
// token and signs a text, which OpenSSL then verifies.
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
	ctx := browsertest.New(t)

	pageLn := listen(t, "0")
	origin := "http://" + pageLn.Addr().String()
	pages := &http.Server{Handler: http.FileServer(http.Dir("../examples/portal")), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = pages.Serve(pageLn) }()
	t.Cleanup(func() { _ = pages.Close() })

	m := token.NewManager([]string{env.Module}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	srv := ws.New(ws.Config{AllowedOrigins: []string{origin}}, agent.New(m, agent.Options{RenewBeforeDays: 30}))
	agentLn := listen(t, "0")
	go func() { _ = srv.Serve(agentLn) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	_, agentPort, _ := net.SplitHostPort(agentLn.Addr().String())

	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	text := "I agree to the terms."
	err = chromedp.Do(ctx,
		chromedp.Navigate(origin+"/index.html?agent=http://127.0.0.1:"+agentPort),
		chromedp.WaitVisible("#sign"),
		chromedp.SetValue("#text", text),
		chromedp.SendKeys("#pin", userPIN),
		chromedp.Click(`button[type="submit"]`),
		chromedp.WaitVisible(`#result[data-signature]`),
	)
	if err != nil {
		t.Fatalf("driving the example page: %v", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	result, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("result").dataset.signature`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "1 certificate") {
		t.Errorf("status %q, want the token's one certificate", status)
	}
	// The same page from an origin the agent does not allow cannot connect.
	_, pagePort, _ := net.SplitHostPort(pageLn.Addr().String())
	if err := chromedp.Do(ctx, chromedp.Navigate("http://localhost:"+pagePort+"/index.html?agent=http://127.0.0.1:"+agentPort),
		chromedp.WaitVisible("#status.error")); err != nil {
		t.Fatalf("the page on a foreign origin: %v", err)
	}
	refused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
	if err != nil || !strings.Contains(refused, "AGENT_UNREACHABLE") {
		t.Errorf("status on a foreign origin %q, %v; want AGENT_UNREACHABLE", refused, err)
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
}
