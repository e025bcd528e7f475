package installer

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf16"

	"github.com/tokenagent/tokenagent/internal/browserpolicy"
)

var update = flag.Bool("update", false, "rewrite installer/browserpolicy/ from BrowserPolicies")

// exampleOrigins are the origins of the files in installer/browserpolicy/.
var exampleOrigins = []string{"https://portal.example.com", "https://sign.example.com:8443"}

// TestBrowserPolicyFiles: installer/browserpolicy/ holds what
// BrowserPolicies renders for the example origins (go test ./installer
// -run TestBrowserPolicyFiles -update rewrites them).
func TestBrowserPolicyFiles(t *testing.T) {
	files, err := BrowserPolicies(exampleOrigins)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		path := filepath.Join("browserpolicy", f.Name)
		if *update {
			if err := os.WriteFile(path, f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, f.Content) {
			t.Errorf("%s is not what BrowserPolicies renders (%v): run go test ./installer -run TestBrowserPolicyFiles -update", path, err)
		}
	}
}

// TestBrowserPolicies checks each rendered file in its own format, and
// reads the Linux files back as the browsers' places hold them.
func TestBrowserPolicies(t *testing.T) {
	files, err := BrowserPolicies(exampleOrigins)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]PolicyFile{}
	for _, f := range files {
		byName[f.Name] = f
	}

	var linux map[string][]string
	if err := json.Unmarshal(byName["chromium-linux.json"].Content, &linux); err != nil {
		t.Fatal(err)
	}
	for _, p := range browserpolicy.ChromiumPolicies {
		if strings.Join(linux[p], " ") != strings.Join(exampleOrigins, " ") {
			t.Errorf("chromium-linux.json %s = %v", p, linux[p])
		}
	}

	// Installed where each browser reads them, every browser pre-allows
	// every origin.
	fsys := fstest.MapFS{}
	for _, b := range browserpolicy.Browsers {
		if b.Firefox {
			fsys[strings.TrimPrefix(b.LinuxPolicies[0], "/")] = &fstest.MapFile{Data: byName["firefox-policies.json"].Content}
		} else {
			fsys[strings.TrimPrefix(b.LinuxPolicies[0], "/")+"/tokenagent.json"] = &fstest.MapFile{Data: byName["chromium-linux.json"].Content}
		}
	}
	results := browserpolicy.CheckFiles(fsys, exampleOrigins)
	if len(results) != len(browserpolicy.Browsers) {
		t.Errorf("%d browsers with policies, want %d", len(results), len(browserpolicy.Browsers))
	}
	for _, r := range results {
		if m := r.Missing(); len(m) > 0 || len(r.Errors) > 0 {
			t.Errorf("%s: misses %v, errors %v", r.Browser, m, r.Errors)
		}
	}

	reg := byName["windows.reg"].Content
	if !bytes.HasPrefix(reg, []byte{0xff, 0xfe}) || len(reg)%2 != 0 {
		t.Fatalf("windows.reg is not UTF-16LE with a byte order mark")
	}
	units := make([]uint16, 0, len(reg)/2-1)
	for i := 2; i < len(reg); i += 2 {
		units = append(units, uint16(reg[i])|uint16(reg[i+1])<<8)
	}
	text := string(utf16.Decode(units))
	if !strings.HasPrefix(text, "Windows Registry Editor Version 5.00\r\n") || strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\n") {
		t.Errorf("windows.reg: not a version 5.00 file with CRLF lines:\n%s", text)
	}
	for _, b := range browserpolicy.Browsers {
		if b.Firefox {
			continue
		}
		for _, p := range browserpolicy.ChromiumPolicies {
			want := "[HKEY_LOCAL_MACHINE\\" + b.WindowsKey + "\\" + p + "]\r\n\"1\"=\"https://portal.example.com\"\r\n\"2\"=\"https://sign.example.com:8443\"\r\n"
			if !strings.Contains(text, want) {
				t.Errorf("windows.reg lacks %q", want)
			}
		}
	}
	if want := "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Mozilla\\Firefox\\LocalNetworkAccess\\SkipDomains]\r\n\"1\"=\"portal.example.com\"\r\n\"2\"=\"sign.example.com\"\r\n"; !strings.Contains(text, want) {
		t.Errorf("windows.reg lacks Firefox's %q", want)
	}

	profile := byName["macos.mobileconfig"].Content
	dec := xml.NewDecoder(bytes.NewReader(profile))
	var types []string
	var lastKey string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("macos.mobileconfig is not well-formed XML: %v", err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			switch s := strings.TrimSpace(string(cd)); {
			case lastKey == "PayloadType" && s != "":
				types = append(types, s)
				lastKey = ""
			case s == "PayloadType":
				lastKey = s
			}
		}
	}
	if want := "com.google.Chrome com.microsoft.Edge org.chromium.Chromium org.mozilla.firefox Configuration"; strings.Join(types, " ") != want {
		t.Errorf("macos.mobileconfig payload types %v, want %s", types, want)
	}
}

func TestBrowserPoliciesRefuse(t *testing.T) {
	for _, origins := range [][]string{nil, {"portal.example.com"}, {"https://portal.example.com/path"}, {"ftp://portal.example.com"}} {
		if _, err := BrowserPolicies(origins); err == nil {
			t.Errorf("BrowserPolicies(%q) rendered files", origins)
		}
	}
}
