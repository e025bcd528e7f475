package installer

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/tokenagent/tokenagent/internal/browserpolicy"
)

// PolicyFile is a browser policy for a fleet that pre-allows portals, so
// that their pages reach the agent without the browser asking each user.
type PolicyFile struct {
	Name    string // the file's name, as in installer/browserpolicy/
	For     string // the browsers and the system it is for
	Install string // where it goes
	Content []byte
}

// firefox is Firefox's row of browserpolicy.Browsers; chromium are the
// others.
func browsers() (firefox browserpolicy.Browser, chromium []browserpolicy.Browser) {
	for _, b := range browserpolicy.Browsers {
		if b.Firefox {
			firefox = b
		} else {
			chromium = append(chromium, b)
		}
	}
	return firefox, chromium
}

// BrowserPolicies renders the fleet policies that pre-allow origins (the
// config's allowed_origins): Chromium, Chrome and Edge on Linux (JSON),
// Windows (a .reg file, which also sets Firefox's) and macOS (a
// configuration profile, with Firefox's payload), and Firefox's
// policies.json. The output depends only on origins, so the files in
// installer/browserpolicy/ are it for the example origin.
func BrowserPolicies(origins []string) ([]PolicyFile, error) {
	hosts, err := originHosts(origins)
	if err != nil {
		return nil, err
	}
	linux, err := chromiumJSON(origins)
	if err != nil {
		return nil, err
	}
	firefoxJSON, err := json.MarshalIndent(map[string]any{"policies": map[string]any{browserpolicy.FirefoxPolicy: map[string]any{"SkipDomains": hosts}}}, "", "  ")
	if err != nil {
		return nil, err
	}
	firefox, chromium := browsers()
	var dirs []string
	for _, b := range chromium {
		dirs = append(dirs, b.LinuxPolicies[0]+"/tokenagent.json")
	}
	return []PolicyFile{
		{Name: "chromium-linux.json", For: "Chrome, Edge and Chromium on Linux", Install: strings.Join(dirs, ", "), Content: linux},
		{Name: "firefox-policies.json", For: "Firefox (Linux, or any system's distribution directory)",
			Install: firefox.LinuxPolicies[0] + " (merge into an existing one), or distribution/policies.json beside the Firefox program", Content: append(firefoxJSON, '\n')},
		{Name: "windows.reg", For: "Chrome, Edge, Chromium and Firefox on Windows", Install: "regedit /s windows.reg as an administrator, or the same values through Group Policy", Content: windowsReg(origins, hosts)},
		{Name: "macos.mobileconfig", For: "Chrome, Edge, Chromium and Firefox on macOS", Install: "a configuration profile, deployed by the fleet's MDM", Content: macProfile(origins, hosts)},
	}, nil
}

// chromiumJSON is a Linux managed policy file setting both of
// browserpolicy.ChromiumPolicies.
func chromiumJSON(origins []string) ([]byte, error) {
	policy := map[string][]string{}
	for _, p := range browserpolicy.ChromiumPolicies {
		policy[p] = origins
	}
	b, err := json.MarshalIndent(policy, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// originHosts checks that origins are scheme://host[:port] and returns
// their hosts, sorted and without repeats, for Firefox.
func originHosts(origins []string) ([]string, error) {
	if len(origins) == 0 {
		return nil, fmt.Errorf("no origins to allow")
	}
	var hosts []string
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("origin %q: not http(s)://host[:port]", o)
		}
		if !slices.Contains(hosts, u.Hostname()) {
			hosts = append(hosts, u.Hostname())
		}
	}
	slices.Sort(hosts)
	return hosts, nil
}

// windowsReg is a .reg file for HKEY_LOCAL_MACHINE: each Chromium browser's
// list policies and Firefox's SkipDomains, as regedit reads a "Version
// 5.00" file: UTF-16LE with a byte order mark and CRLF line ends.
func windowsReg(origins, hosts []string) []byte {
	var b strings.Builder
	b.WriteString("Windows Registry Editor Version 5.00\r\n")
	list := func(key string, values []string) {
		fmt.Fprintf(&b, "\r\n[HKEY_LOCAL_MACHINE\\%s]\r\n", key)
		for i, v := range values {
			fmt.Fprintf(&b, "\"%d\"=\"%s\"\r\n", i+1, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v))
		}
	}
	firefox, chromium := browsers()
	for _, br := range chromium {
		for _, p := range browserpolicy.ChromiumPolicies {
			list(br.WindowsKey+`\`+p, origins)
		}
	}
	list(firefox.WindowsKey+`\`+browserpolicy.FirefoxPolicy+`\SkipDomains`, hosts)
	units := utf16.Encode([]rune(b.String()))
	out := make([]byte, 0, 2+2*len(units))
	out = append(out, 0xff, 0xfe)
	for _, u := range units {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

// macProfile is a configuration profile with one payload per browser.
func macProfile(origins, hosts []string) []byte {
	var b bytes.Buffer
	str := func(s string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(s)) // writes to memory
		return "<string>" + e.String() + "</string>"
	}
	array := func(values []string) string {
		var s strings.Builder
		s.WriteString("<array>")
		for _, v := range values {
			s.WriteString(str(v))
		}
		s.WriteString("</array>")
		return s.String()
	}
	header := func(indent, payloadType, id, name string) {
		fmt.Fprintf(&b, "%s<key>PayloadType</key>%s\n", indent, str(payloadType))
		fmt.Fprintf(&b, "%s<key>PayloadIdentifier</key>%s\n", indent, str(id))
		fmt.Fprintf(&b, "%s<key>PayloadUUID</key>%s\n", indent, str(stableUUID(id, origins)))
		fmt.Fprintf(&b, "%s<key>PayloadVersion</key><integer>1</integer>\n", indent)
		fmt.Fprintf(&b, "%s<key>PayloadDisplayName</key>%s\n", indent, str(name))
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
`)
	firefox, chromium := browsers()
	for _, br := range chromium {
		b.WriteString("    <dict>\n")
		header("      ", br.MacDomain, "com.tokenagent.browserpolicy."+br.MacDomain, br.Name+": portals that may reach tokenagent")
		for _, p := range browserpolicy.ChromiumPolicies {
			fmt.Fprintf(&b, "      <key>%s</key>%s\n", p, array(origins))
		}
		b.WriteString("    </dict>\n")
	}
	b.WriteString("    <dict>\n")
	header("      ", firefox.MacDomain, "com.tokenagent.browserpolicy."+firefox.MacDomain, "Firefox: portals that may reach tokenagent")
	b.WriteString("      <key>EnterprisePoliciesEnabled</key><true/>\n")
	fmt.Fprintf(&b, "      <key>%s</key><dict><key>SkipDomains</key>%s</dict>\n", browserpolicy.FirefoxPolicy, array(hosts))
	b.WriteString("    </dict>\n  </array>\n")
	header("  ", "Configuration", "com.tokenagent.browserpolicy", "tokenagent: portals that may reach the agent")
	b.WriteString("  <key>PayloadScope</key><string>System</string>\n</dict>\n</plist>\n")
	return b.Bytes()
}

// stableUUID derives a payload's UUID from its identifier and the origins,
// so that the same policy renders the same profile (RFC 9562 version 8).
func stableUUID(id string, origins []string) string {
	sum := sha256.Sum256([]byte(id + "\n" + strings.Join(origins, "\n")))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
