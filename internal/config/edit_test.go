package config

import (
	"strings"
	"testing"
)

func TestSetTLSKeys(t *testing.T) {
	const cert, key = "/var/lib/tokenagent/tls/cert.pem", "/var/lib/tokenagent/tls/key.pem"
	const keys = "cert = \"" + cert + "\"\nkey = \"" + key + "\"\n"
	for _, tc := range []struct {
		name, doc, want, wantErr string
	}{
		{name: "empty file", doc: "", want: "[tls]\n" + keys},
		{name: "no tls table", doc: "listen = \"127.0.0.1:1\"\n", want: "listen = \"127.0.0.1:1\"\n\n[tls]\n" + keys},
		{name: "no final newline", doc: "listen = \"127.0.0.1:1\"", want: "listen = \"127.0.0.1:1\"\n\n[tls]\n" + keys},
		{name: "after other tables", doc: "[[origin]]\norigin = \"https://a.example\"\n", want: "[[origin]]\norigin = \"https://a.example\"\n\n[tls]\n" + keys},
		{
			name: "replaces both keys, keeps the rest",
			doc:  "listen = \"127.0.0.1:1\"\n[tls] # ours\n# served over https\ncert = \"/old/c.pem\"\n  key=\"/old/k.pem\" # old\n\n[[origin]]\norigin = \"https://a.example\"\n",
			want: "listen = \"127.0.0.1:1\"\n[tls] # ours\n# served over https\n" + keys + "\n[[origin]]\norigin = \"https://a.example\"\n",
		},
		{name: "adds a missing key", doc: "[tls]\nkey = \"/old/k.pem\"\n[[media]]\nname = \"x\"\n", want: "[tls]\ncert = \"" + cert + "\"\nkey = \"" + key + "\"\n[[media]]\nname = \"x\"\n"},
		{name: "empty table", doc: "[ tls ]\n", want: "[ tls ]\n" + keys},
		{name: "header without newline", doc: "[tls]", want: "[tls]\n" + keys},
		{name: "not confused by [tlsx] or keys elsewhere", doc: "[[media]]\nname = \"cert\"\n", want: "[[media]]\nname = \"cert\"\n\n[tls]\n" + keys},
		{name: "inline table", doc: "tls = { cert = \"a\", key = \"b\" }\n", wantErr: "outside a [tls] table"},
		{name: "dotted keys", doc: "tls.cert = \"a\"\n", wantErr: "outside a [tls] table"},
		{name: "two tables", doc: "[tls]\n[tls]\n", wantErr: "second [tls]"},
		{name: "sub-table", doc: "[tls.extra]\n", wantErr: "[tls.extra]"},
		{name: "broken file", doc: "listen = \n", wantErr: "does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := SetTLS([]byte(tc.doc), cert, key)
			got := string(out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one containing %q; doc:\n%s", err, tc.wantErr, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestSetTLSKeysQuotes(t *testing.T) {
	cert, key := `C:\ProgramData\tokenagent\tls\cert.pem`, "/odd \"dir\"\t/key.pem"
	out, err := SetTLS(nil, cert, key) // checkTLS parses the result back
	got := string(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, `cert = "C:\\ProgramData\\tokenagent\\tls\\cert.pem"`) {
		t.Errorf("got:\n%s", got)
	}
}

func TestRemoveTLSKeys(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{name: "no tls", doc: "listen = \"127.0.0.1:1\"\n", want: "listen = \"127.0.0.1:1\"\n"},
		{name: "only tls", doc: "[tls]\ncert = \"c\"\nkey = \"k\"\n", want: ""},
		{name: "undoes setup's append", doc: "listen = \"127.0.0.1:1\"\n\n[tls]\ncert = \"c\"\nkey = \"k\"\n", want: "listen = \"127.0.0.1:1\"\n"},
		{
			name: "between tables",
			doc:  "listen = \"127.0.0.1:1\"\n[tls]\ncert = \"c\"\nkey = \"k\"\n[[origin]]\norigin = \"https://a.example\"\n",
			want: "listen = \"127.0.0.1:1\"\n[[origin]]\norigin = \"https://a.example\"\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := RemoveTLS([]byte(tc.doc), "c")
			got := string(out)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}

// TestEditKeepsTheRest checks what the AST-driven edit keeps: comments,
// other keys of [tls], multi-line values, a byte order mark, and a [tls]
// naming another certificate.
func TestEditKeepsTheRest(t *testing.T) {
	doc := "\ufeff# mine\n[tls] # served over https\n# the files\ncert = \"\"\"\n/old/c.pem\"\"\"\nkey = 'k'\nextra = 1 # not ours\n[[media]]\nname = \"a\"\n"
	set, err := SetTLS([]byte(doc), "/n/c.pem", "/n/k.pem")
	if err != nil {
		t.Fatal(err)
	}
	want := "\ufeff# mine\n[tls] # served over https\n# the files\ncert = \"/n/c.pem\"\nkey = \"/n/k.pem\"\nextra = 1 # not ours\n[[media]]\nname = \"a\"\n"
	if string(set) != want {
		t.Errorf("SetTLS:\n%q\nwant\n%q", set, want)
	}
	if out, removed, err := RemoveTLS(set, "/other/c.pem"); err != nil || removed || string(out) != string(set) {
		t.Errorf("RemoveTLS of another certificate: removed %v, %v:\n%q", removed, err, out)
	}
	out, removed, err := RemoveTLS(set, "/n/c.pem")
	want = "\ufeff# mine\n[tls] # served over https\n# the files\nextra = 1 # not ours\n[[media]]\nname = \"a\"\n"
	if err != nil || !removed || string(out) != want {
		t.Errorf("RemoveTLS: removed %v, %v:\n%q\nwant\n%q", removed, err, out, want)
	}
}
