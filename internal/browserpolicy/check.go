package browserpolicy

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
)

// Policy is a policy of one browser as read: its name, its list of
// patterns (Chromium) or hosts (Firefox), and where it was read.
type Policy struct {
	Name   string // a ChromiumPolicies name, or "LocalNetworkAccess.SkipDomains"
	Values []string
	Source string // a file, or a registry key
}

// Result is what one browser on this computer has.
type Result struct {
	Browser   string
	Installed bool     // its program is there
	Policies  []Policy // the Local Network Access policies found
	Errors    []error  // policy sources that exist but could not be read
	Origins   []Origin // one per origin Check was asked about, in order
}

// Origin is whether a browser's policies pre-allow one origin.
type Origin struct {
	Origin    string
	AllowedBy *Policy // the first policy that allows it; nil: none
}

// Missing returns the origins no policy of the browser pre-allows.
func (r Result) Missing() []string {
	var out []string
	for _, o := range r.Origins {
		if o.AllowedBy == nil {
			out = append(out, o.Origin)
		}
	}
	return out
}

// system reads one computer's browsers: each platform has its own.
type system interface {
	installed(b Browser) bool
	policies(b Browser) ([]Policy, []error)
}

// Check reads the policies of every browser in Browsers on this computer
// and tells, for those installed or with policies, which of origins
// (scheme://host[:port]) they pre-allow.
func Check(origins []string) []Result { return check(thisSystem(), origins) }

// CheckFiles is Check on a Linux file tree rooted at fsys: what Check does
// on Linux with the root directory, and what tests and the installer's
// rendered policy files use.
func CheckFiles(fsys fs.FS, origins []string) []Result {
	return check(fileSystem{fsys: fsys}, origins)
}

func check(sys system, origins []string) []Result {
	var out []Result
	for _, b := range Browsers {
		r := Result{Browser: b.Name, Installed: sys.installed(b)}
		r.Policies, r.Errors = sys.policies(b)
		if !r.Installed && len(r.Policies) == 0 && len(r.Errors) == 0 {
			continue
		}
		for _, o := range origins {
			r.Origins = append(r.Origins, Origin{Origin: o, AllowedBy: allowedBy(b, r.Policies, o)})
		}
		out = append(out, r)
	}
	return out
}

// allowedBy returns the first of policies that allows origin, or nil.
func allowedBy(b Browser, policies []Policy, origin string) *Policy {
	u, err := url.Parse(origin)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	for i, p := range policies {
		for _, v := range p.Values {
			if (b.Firefox && hostMatches(v, u.Hostname())) || (!b.Firefox && patternMatches(v, u)) {
				return &policies[i]
			}
		}
	}
	return nil
}

// firefoxSkipDomains is the name Policy gives Firefox's list.
const firefoxSkipDomains = FirefoxPolicy + ".SkipDomains"

// chromiumPolicies picks ChromiumPolicies out of a policy object (a Linux
// policy file, or macOS managed preferences as JSON).
func chromiumPolicies(data []byte, source string) ([]Policy, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("reading %s: %w", source, err)
	}
	var out []Policy
	for _, name := range ChromiumPolicies {
		raw, ok := all[name]
		if !ok {
			continue
		}
		var values []string
		if err := json.Unmarshal(raw, &values); err != nil {
			return out, fmt.Errorf("reading %s: %s is not a list of strings: %w", source, name, err)
		}
		out = append(out, Policy{Name: name, Values: values, Source: source})
	}
	return out, nil
}

// firefoxPolicies reads LocalNetworkAccess from a Firefox policy object:
// policies.json's "policies" member, or macOS managed preferences.
// Enabled: false turns the checks off for every page.
func firefoxPolicies(policies map[string]json.RawMessage, source string) ([]Policy, error) {
	raw, ok := policies[FirefoxPolicy]
	if !ok {
		return nil, nil
	}
	var lna struct {
		Enabled     *bool
		SkipDomains []string
	}
	if err := json.Unmarshal(raw, &lna); err != nil {
		return nil, fmt.Errorf("reading %s: %s: %w", source, FirefoxPolicy, err)
	}
	if lna.Enabled != nil && !*lna.Enabled {
		return []Policy{{Name: FirefoxPolicy + ".Enabled (false)", Values: []string{"*"}, Source: source}}, nil
	}
	if lna.SkipDomains == nil {
		return nil, nil
	}
	return []Policy{{Name: firefoxSkipDomains, Values: lna.SkipDomains, Source: source}}, nil
}

// hostMatches reports whether a Firefox SkipDomains entry covers host: the
// host itself, "*.example.com" for its subdomains, or "*".
func hostMatches(entry, host string) bool {
	entry, host = strings.ToLower(strings.TrimSpace(entry)), strings.ToLower(host)
	if entry == "*" || entry == host {
		return true
	}
	if rest, ok := strings.CutPrefix(entry, "*."); ok {
		return strings.HasSuffix(host, "."+rest)
	}
	return false
}

// patternMatches reports whether a Chromium enterprise URL pattern
// ("Enterprise policy URL pattern format") matches the origin u: "*"; or
// [scheme://]host[:port][/path], where a missing or "*" scheme or port
// matches any, "[*.]" before the host also matches its subdomains, a host
// without it matches only itself, and the path does not count.
func patternMatches(pattern string, u *url.URL) bool {
	p := strings.TrimSpace(pattern)
	if p == "*" {
		return true
	}
	scheme := "*"
	if s, rest, ok := strings.Cut(p, "://"); ok {
		scheme, p = strings.ToLower(s), rest
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		p = p[:i]
	}
	host, port := p, "*"
	if strings.HasPrefix(p, "[") && !strings.HasPrefix(p, "[*.]") { // an IPv6 address
		if end := strings.IndexByte(p, ']'); end >= 0 {
			host = p[1:end]
			if rest := p[end+1:]; strings.HasPrefix(rest, ":") {
				port = rest[1:]
			}
		}
	} else if h, pt, ok := strings.Cut(p, ":"); ok {
		host, port = h, pt
	}
	if scheme != "*" && scheme != u.Scheme {
		return false
	}
	if port != "*" && port != originPort(u) {
		return false
	}
	host, want := strings.ToLower(host), strings.ToLower(u.Hostname())
	if domain, ok := strings.CutPrefix(host, "[*.]"); ok {
		return want == domain || strings.HasSuffix(want, "."+domain)
	}
	return host == "*" || host == want
}

// originPort is u's port, the scheme's default when it has none.
func originPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return map[string]string{"http": "80", "https": "443"}[u.Scheme]
}
