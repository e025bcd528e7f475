// Package browsertest starts real headless Chromium (Debian's chromium)
// for tests, driven by chromedp. Each browser gets a fresh profile in the
// test's temporary directory and the flags that keep it off the network,
// which tests must not need.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/tokenagent/tokenagent/internal/syncbuf"
)

// flags are Chromium's flags beside the profile: headless, no sandbox (tests
// may run as root), and nothing that reaches out to Google's services.
var flags = []chromedp.ExecAllocatorOption{
	chromedp.Headless,
	chromedp.NoSandbox,
	chromedp.DisableGPU,
	chromedp.NoFirstRun,
	chromedp.NoDefaultBrowserCheck,
	chromedp.Flag("disable-quic", true),
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-extensions", true),
	chromedp.Flag("disable-default-apps", true),
	chromedp.Flag("disable-dev-shm-usage", true),
	chromedp.Flag("disable-breakpad", true),
	chromedp.Flag("disable-background-timer-throttling", true),
	chromedp.Flag("disable-renderer-backgrounding", true),
	chromedp.Flag("metrics-recording-only", true),
	chromedp.Flag("no-pings", true),
}

// Path returns the Chromium to run: $TOKENAGENT_CHROMIUM, or chromium on
// PATH. Without one the test is skipped, or fails under CI.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TOKENAGENT_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not found, and CI is set: %v (apt-get install chromium, or make deps)", err)
		}
		t.Skipf("chromium not found (%v): install it with apt-get install chromium, or make deps", err)
	}
	return p
}

// New starts a browser for the test and returns the chromedp context of its
// first tab. extra adds flags, e.g. chromedp.Flag("host-resolver-rules",
// "MAP evil.test 127.0.0.1") to serve a test origin under any name. The
// browser stops when the test ends; when the test failed, its output goes
// to the test log.
func New(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	out := &syncbuf.Buffer{}
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(out),
	}, flags...)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
	})
	// Start it now, so that a browser that cannot start fails here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v\n%s", err, out.String())
	}
	return ctx
}
