package browserpolicy

import (
	"net/url"
	"testing"
	"testing/fstest"
)

func TestPatternMatches(t *testing.T) {
	tests := []struct {
		pattern, origin string
		want            bool
	}{
		{"*", "https://portal.example.com", true},
		{"https://portal.example.com", "https://portal.example.com", true},
		{"https://portal.example.com", "https://portal.example.com:8443", true}, // no port: any port
		{"https://portal.example.com:8443", "https://portal.example.com:8443", true},
		{"https://portal.example.com:8443", "https://portal.example.com", false},
		{"https://portal.example.com:443", "https://portal.example.com", true}, // the default port
		{"https://portal.example.com:*", "https://portal.example.com:9", true},
		{"http://portal.example.com", "https://portal.example.com", false},
		{"*://portal.example.com", "http://portal.example.com", true},
		{"portal.example.com", "https://portal.example.com", true}, // no scheme: any scheme
		{"portal.example.com", "https://sub.portal.example.com", false},
		{"[*.]example.com", "https://portal.example.com", true},
		{"[*.]example.com", "https://example.com", true},
		{"[*.]example.com", "https://badexample.com", false},
		{"https://[*.]example.com:8443", "https://a.b.example.com:8443", true},
		{"https://PORTAL.example.com/some/path", "https://portal.example.com", true},
		{"https://portal.example.com/*", "https://portal.example.com", true},
		{"https://10.1.2.3", "https://10.1.2.3", true},
		{"https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443", true},
		{"https://[2001:db8::1]", "https://[2001:db8::2]", false},
		{"https://other.example.com", "https://portal.example.com", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.origin)
		if err != nil {
			t.Fatal(err)
		}
		if got := patternMatches(tt.pattern, u); got != tt.want {
			t.Errorf("patternMatches(%q, %q) = %v, want %v", tt.pattern, tt.origin, got, tt.want)
		}
	}
}

func TestHostMatches(t *testing.T) {
	tests := []struct {
		entry, host string
		want        bool
	}{
		{"portal.example.com", "portal.example.com", true},
		{"Portal.Example.com", "portal.example.com", true},
		{"portal.example.com", "sub.portal.example.com", false},
		{"*.example.com", "portal.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "badexample.com", false},
		{"*", "anything.test", true},
		{"example.com", "portal.example.com", false},
	}
	for _, tt := range tests {
		if got := hostMatches(tt.entry, tt.host); got != tt.want {
			t.Errorf("hostMatches(%q, %q) = %v, want %v", tt.entry, tt.host, got, tt.want)
		}
	}
}

// TestCheckFiles reads a Linux tree: Chromium installed with a policy for
// one origin, Chrome's policy (by the older name) covering a domain,
// Firefox's policies.json, Edge neither installed nor configured, and a
// broken file, which is reported and does not hide the others.
func TestCheckFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"usr/lib/chromium/chromium":                        {Data: []byte("ELF"), Mode: 0o755},
		"etc/chromium/policies/managed/tokenagent.json":    {Data: []byte(`{"LoopbackNetworkAllowedForUrls": ["https://a.example.com"], "HomepageLocation": "x"}`)},
		"etc/chromium/policies/managed/broken.json":        {Data: []byte(`{"LoopbackNetworkAllowedForUrls": "https://b.example.com"}`)},
		"etc/chromium/policies/managed/README":             {Data: []byte("not a policy")},
		"etc/opt/chrome/policies/managed/fleet.json":       {Data: []byte(`{"LocalNetworkAccessAllowedForUrls": ["[*.]example.com"]}`)},
		"etc/firefox/policies/policies.json":               {Data: []byte(`{"policies": {"LocalNetworkAccess": {"SkipDomains": ["b.example.com"]}}}`)},
		"usr/lib/firefox-esr/distribution/policies.json":   {Data: []byte(`{"policies": {"DisableTelemetry": true}}`)},
		"etc/chromium-browser/policies/managed/empty.json": {Data: []byte(`{}`)},
	}
	origins := []string{"https://a.example.com", "https://b.example.com"}
	results := CheckFiles(fsys, origins)
	byName := map[string]Result{}
	for _, r := range results {
		byName[r.Browser] = r
	}
	if _, ok := byName["Microsoft Edge"]; ok || len(results) != 3 {
		t.Errorf("results for %v, want Chromium, Chrome and Firefox", names(results))
	}

	chromium := byName["Chromium"]
	if !chromium.Installed || len(chromium.Errors) != 1 {
		t.Errorf("Chromium: installed %v, errors %v; want installed and the broken file's error", chromium.Installed, chromium.Errors)
	}
	if got := chromium.Missing(); len(got) != 1 || got[0] != "https://b.example.com" {
		t.Errorf("Chromium misses %v, want only b", got)
	}
	if p := chromium.Origins[0].AllowedBy; p == nil || p.Name != "LoopbackNetworkAllowedForUrls" || p.Source != "/etc/chromium/policies/managed/tokenagent.json" {
		t.Errorf("Chromium allows a by %+v", p)
	}

	chrome := byName["Google Chrome"]
	if chrome.Installed || len(chrome.Missing()) != 0 || chrome.Origins[1].AllowedBy.Name != "LocalNetworkAccessAllowedForUrls" {
		t.Errorf("Chrome: %+v; want not installed, both allowed by [*.]example.com", chrome)
	}

	firefox := byName["Firefox"]
	if got := firefox.Missing(); len(got) != 1 || got[0] != "https://a.example.com" || firefox.Origins[1].AllowedBy.Name != "LocalNetworkAccess.SkipDomains" {
		t.Errorf("Firefox: misses %v, allows b by %+v", got, firefox.Origins[1].AllowedBy)
	}
}

func TestFirefoxDisabled(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/firefox/policies/policies.json": {Data: []byte(`{"policies": {"LocalNetworkAccess": {"Enabled": false}}}`)},
	}
	r := CheckFiles(fsys, []string{"https://any.example"})
	if len(r) != 1 || len(r[0].Missing()) != 0 {
		t.Errorf("Firefox with Local Network Access off: %+v, want every origin allowed", r)
	}
}

func names(rs []Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Browser)
	}
	return out
}
