package browserpolicy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenagent/tokenagent/internal/browsertest"
)

// TestPatternsInChromium checks patternMatches against real Chromium: with
// the patterns as its managed LoopbackNetworkAllowedForUrls, each test
// origin's permission is granted exactly when patternMatches says a
// pattern covers it.
func TestPatternsInChromium(t *testing.T) {
	names := []string{"example.test", "a.sub.example.test", "badexample.test", "exact.test", "sub.exact.test", "plain.test", "port.test"}
	site := browsertest.ServePublic(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>origin</title>")
	}), names...)
	patterns := []string{
		"[*.]example.test",    // the domain and its subdomains
		"exact.test",          // only the host, any scheme and port
		"http://plain.test",   // another scheme
		"https://port.test:1", // another port
		"https://[*.]nothing.test:" + site.Port,
	}
	policy, err := json.Marshal(map[string]any{"LoopbackNetworkAllowedForUrls": patterns})
	if err != nil {
		t.Fatal(err)
	}
	ctx := browsertest.New(t, append(site.Options(), browsertest.ManagedPolicy(t, map[string][]byte{"patterns.json": policy}))...)
	for _, name := range names {
		origin := site.Origin(name)
		u, err := url.Parse(origin)
		if err != nil {
			t.Fatal(err)
		}
		want := false
		for _, p := range patterns {
			want = want || patternMatches(p, u)
		}
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		var state string
		err = chromedp.Do(c, chromedp.Navigate(origin+"/"))
		if err == nil {
			state, err = chromedp.Run(c, chromedp.Evaluate[string](`navigator.permissions.query({ name: "loopback-network" }).then((s) => s.state)`, chromedp.EvalAwaitPromise))
		}
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", origin, err)
		}
		if (state == "granted") != want {
			t.Errorf("%s: Chromium says %s, patternMatches says allowed %v", origin, state, want)
		}
	}
}
