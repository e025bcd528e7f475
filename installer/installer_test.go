package installer

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitsVerify runs systemd-analyze verify on both units, with
// ExecStart pointing at an executable that exists here. Any message fails
// the test: systemd-analyze exits 0 for unknown keys and only says so.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd); units not verified")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		unit string
		args []string
	}{
		{"system", SystemdUnit, []string{"verify"}},
		{"user", SystemdUserUnit, []string{"--user", "verify"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "tokenagent.service")
			unit := execStartLine.ReplaceAllLiteralString(tc.unit, "ExecStart="+exe+" run")
			if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
				t.Fatal(err)
			}
			runtimeDir := filepath.Join(dir, "run") // the user manager wants one
			if err := os.Mkdir(runtimeDir, 0o700); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(analyze, append(tc.args, path)...)
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtimeDir, "SYSTEMD_LOG_COLOR=0")
			out, err := cmd.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
		})
	}
}

// TestSystemdUnitsHardening checks the settings the units promise, so that
// an edit cannot drop one silently where systemd-analyze is missing.
func TestSystemdUnitsHardening(t *testing.T) {
	common := []string{
		"NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectSystem=strict",
		"IPAddressAllow=localhost", "IPAddressDeny=any",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "Restart=on-failure",
	}
	for _, tc := range []struct {
		name string
		unit string
		want []string
	}{
		{"system", SystemdUnit, append(common, "ProtectHome=yes", "StateDirectory=tokenagent",
			"ExecStart=/usr/bin/tokenagent run --config /etc/tokenagent/config.toml", "WantedBy=multi-user.target")},
		{"user", SystemdUserUnit, append(common,
			"ExecStart=/usr/bin/tokenagent run --config %E/tokenagent/config.toml", "WantedBy=default.target")},
	} {
		lines := strings.Split(tc.unit, "\n")
		for _, w := range tc.want {
			found := false
			for _, l := range lines {
				found = found || l == w
			}
			if !found {
				t.Errorf("%s unit lacks the line %q", tc.name, w)
			}
		}
	}
}

func TestSystemdTemplate(t *testing.T) {
	for _, unit := range []string{SystemdUnit, SystemdUserUnit} {
		tmpl, err := SystemdTemplate(unit)
		if err != nil {
			t.Fatal(err)
		}
		want := execStartLine.ReplaceAllLiteralString(unit, systemdExecStart)
		if tmpl != want || strings.Count(tmpl, "{{") != 4 {
			t.Errorf("template:\n%s", tmpl)
		}
	}
	for _, bad := range []string{"[Service]\n", "ExecStart=/a\nExecStart=/b\n"} {
		if _, err := SystemdTemplate(bad); err == nil {
			t.Errorf("SystemdTemplate(%q) did not fail", bad)
		}
	}
}

func TestLaunchdTemplate(t *testing.T) {
	tmpl, err := LaunchdTemplate()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(LaunchdPlist, `<array>
		<string>/usr/local/bin/tokenagent</string>
		<string>run</string>
		<string>--config</string>
		<string>/Library/Application Support/tokenagent/config.toml</string>
	</array>`, `<array>
		<string>{{Path | html}}</string>
{{range Arguments}}		<string>{{. | html}}</string>
{{end}}	</array>`, 1)
	if tmpl != want {
		t.Errorf("template:\n%s\nwant:\n%s", tmpl, want)
	}
}

// plistNode is an element of a property list: a key, a value, or a
// container with its children.
type plistNode struct {
	XMLName  xml.Name
	Text     string      `xml:",chardata"`
	Children []plistNode `xml:",any"`
}

// dict returns the values of a <dict> by key.
func (n plistNode) dict(t *testing.T) map[string]plistNode {
	t.Helper()
	if n.XMLName.Local != "dict" || len(n.Children)%2 != 0 {
		t.Fatalf("not a dict of key/value pairs: %s", n.XMLName.Local)
	}
	m := make(map[string]plistNode)
	for i := 0; i < len(n.Children); i += 2 {
		k := n.Children[i]
		if k.XMLName.Local != "key" {
			t.Fatalf("expected <key>, found <%s>", k.XMLName.Local)
		}
		m[k.Text] = n.Children[i+1]
	}
	return m
}

func TestLaunchdPlist(t *testing.T) {
	d := xml.NewDecoder(strings.NewReader(LaunchdPlist))
	var root plistNode
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			t.Fatal("no <plist> element")
		}
		if err != nil {
			t.Fatal(err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if err := d.DecodeElement(&root, &se); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if root.XMLName.Local != "plist" || len(root.Children) != 1 {
		t.Fatalf("root <%s> with %d children, want <plist> with one <dict>", root.XMLName.Local, len(root.Children))
	}
	job := root.Children[0].dict(t)

	if l := job["Label"]; l.XMLName.Local != "string" || l.Text != "com.tokenagent.agent" {
		t.Errorf("Label = <%s>%s", l.XMLName.Local, l.Text)
	}
	if r := job["RunAtLoad"]; r.XMLName.Local != "true" {
		t.Errorf("RunAtLoad = <%s/>, want <true/>", r.XMLName.Local)
	}
	keep := job["KeepAlive"].dict(t)
	if se := keep["SuccessfulExit"]; se.XMLName.Local != "false" {
		t.Errorf("KeepAlive.SuccessfulExit = <%s/>, want <false/> (restart on failure)", se.XMLName.Local)
	}
	var args []string
	for _, a := range job["ProgramArguments"].Children {
		args = append(args, a.Text)
	}
	want := []string{"/usr/local/bin/tokenagent", "run", "--config", "/Library/Application Support/tokenagent/config.toml"}
	if strings.Join(args, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("ProgramArguments = %q, want %q", args, want)
	}
}
