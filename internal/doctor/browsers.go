package doctor

import (
	"fmt"
	"strings"

	"github.com/tokenagent/tokenagent/installer"
	"github.com/tokenagent/tokenagent/internal/browserpolicy"
	"github.com/tokenagent/tokenagent/internal/config"
)

// browserPolicies tells, for each browser installed here, whether a policy
// pre-allows each allowed origin past Local Network Access (else its users
// are asked once per site), and how to pre-allow the origins missing: in
// the policy the browser has, or (Linux) a new policy file.
func (c *checker) browserPolicies(cfg config.Config) {
	if len(cfg.AllowedOrigins) == 0 || c.p.Browsers == nil {
		return
	}
	results := c.p.Browsers(cfg.AllowedOrigins)
	if len(results) == 0 {
		c.info("browser policy", "no Chrome, Edge, Chromium or Firefox found here")
		return
	}
	for _, r := range results {
		topic := "browser policy"
		for _, err := range r.Errors {
			c.warn(topic, fmt.Sprintf("%s: %v", r.Browser, err), "correct the policy file or remove it")
		}
		missing := r.Missing()
		if len(missing) == 0 {
			var by []string
			for _, o := range r.Origins {
				by = append(by, fmt.Sprintf("%s (%s in %s)", o.Origin, o.AllowedBy.Name, o.AllowedBy.Source))
			}
			c.ok(topic, "%s pre-allows every allowed origin: %s", r.Browser, strings.Join(by, ", "))
			continue
		}
		c.info(topic, "%s: no policy pre-allows %s, so its users are asked once per site (see installer/browserpolicy/ in the sources, or /usr/share/doc/tokenagent/browser-policy/)",
			r.Browser, strings.Join(missing, ", "))
		switch {
		case len(r.Policies) > 0:
			// A second file that sets the same policy would conflict with it.
			p := r.Policies[0]
			c.detail("to pre-allow them, add them to %s in %s", p.Name, p.Source)
		case c.p.GOOS == "linux":
			c.linuxPolicy(r.Browser, missing)
		}
	}
}

// linuxPolicy adds the file that pre-allows origins for browser.
func (c *checker) linuxPolicy(browser string, origins []string) {
	files, err := installer.BrowserPolicies(origins)
	if err != nil {
		return // origins that are not http(s)://host[:port]: the config check said so
	}
	name, place := "chromium-linux.json", ""
	for _, b := range browserpolicy.Browsers {
		if b.Name != browser {
			continue
		}
		place = b.LinuxPolicies[0] + "/tokenagent.json"
		if b.Firefox {
			name, place = "firefox-policies.json", b.LinuxPolicies[0]+" (merged into what is there)"
		}
	}
	for _, f := range files {
		if f.Name == name {
			c.detail("to pre-allow them, write %s:", place)
			for _, line := range strings.Split(strings.TrimSpace(string(f.Content)), "\n") {
				c.detail("  %s", line)
			}
		}
	}
}
