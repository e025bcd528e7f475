package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/tokenagent/tokenagent/internal/atomicfile"
)

// SetTLSFile sets tls.cert and tls.key in the config file at path (see
// SetTLS), creating the file and its directory when missing.
func SetTLSFile(path, cert, key string) error {
	return editFile(path, func(doc []byte) ([]byte, error) { return SetTLS(doc, cert, key) })
}

// RemoveTLSFile takes tls.cert and tls.key out of the config file at path
// when tls.cert is cert (see RemoveTLS), and tells whether it did. A
// missing file has nothing to remove.
func RemoveTLSFile(path, cert string) (removed bool, err error) {
	err = editFile(path, func(doc []byte) ([]byte, error) {
		out, ok, err := RemoveTLS(doc, cert)
		removed = ok
		return out, err
	})
	return removed, err
}

// editFile replaces the content of the config file at path with edit's
// result, keeping the file's mode; a missing file is edited as an empty
// one. Nothing is written when edit changes nothing.
func editFile(path string, edit func(doc []byte) ([]byte, error)) error {
	data, err := os.ReadFile(path)
	perm := fs.FileMode(0o644)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading the config: %w", err)
	default:
		if fi, err := os.Stat(path); err == nil {
			perm = fi.Mode().Perm()
		}
	}
	doc, err := edit(data)
	if err != nil {
		return fmt.Errorf("editing %s: %w", path, err)
	}
	if bytes.Equal(doc, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the config directory: %w", err)
	}
	return atomicfile.Write(path, doc, perm)
}

// SetTLS returns doc with tls.cert and tls.key set: the [tls] table's two
// keys replaced (each line whole, its comment with it), missing ones added
// after the table's header, or a [tls] table appended when there is none.
// Every other byte stays as it is. A doc that sets tls in another form
// (inline, dotted keys) is refused: an edit could not keep it correct.
func SetTLS(doc []byte, cert, key string) ([]byte, error) {
	body, mark := bytes.CutPrefix(doc, bom)
	sec, err := findTLS(body)
	if err != nil {
		return nil, err
	}
	want := map[string]string{
		"cert": "cert = " + tomlString(cert) + "\n",
		"key":  "key = " + tomlString(key) + "\n",
	}
	var out []byte
	if mark {
		out = append(out, bom...)
	}
	if sec == nil {
		out = append(out, body...)
		if len(body) > 0 {
			if body[len(body)-1] != '\n' {
				out = append(out, '\n')
			}
			out = append(out, '\n')
		}
		out = append(out, "[tls]\n"+want["cert"]+want["key"]...)
	} else {
		out = append(out, body[:sec.headerEnd]...)
		if out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		for _, k := range tlsKeys { // missing keys go first, cert before key
			if len(sec.keys[k]) == 0 {
				out = append(out, want[k]...)
			}
		}
		at := sec.headerEnd
		for _, s := range sec.keySpans() {
			out = append(out, body[at:s.start]...)
			if s == sec.keys[s.key][0] { // later copies of a key go
				out = append(out, want[s.key]...)
			}
			at = s.end
		}
		out = append(out, body[at:]...)
	}
	if err := checkTLS(out, cert, key); err != nil {
		return nil, err
	}
	return out, nil
}

// RemoveTLS returns doc without tls.cert and tls.key when tls.cert is
// cert, and without the [tls] header when nothing else is left in the
// table; removed tells whether it changed anything. Only the keys naming
// cert go: a certificate of the user's own choosing stays configured.
func RemoveTLS(doc []byte, cert string) (out []byte, removed bool, err error) {
	body, mark := bytes.CutPrefix(doc, bom)
	var c struct {
		TLS struct{ Cert string } `toml:"tls"`
	}
	if err := toml.Unmarshal(body, &c); err != nil {
		return nil, false, fmt.Errorf("parsing: %w", err)
	}
	if c.TLS.Cert != cert {
		return doc, false, nil
	}
	sec, err := findTLS(body)
	if err != nil || sec == nil {
		return doc, false, err
	}
	if mark {
		out = append(out, bom...)
	}
	out = append(out, body[:sec.headerStart]...)
	if sec.others {
		out = append(out, body[sec.headerStart:sec.headerEnd]...)
	}
	at := sec.headerEnd
	for _, s := range sec.keySpans() {
		out = append(out, body[at:s.start]...)
		at = s.end
	}
	out = append(out, body[at:]...)
	if !sec.others && len(bytes.TrimSpace(out)) > 0 {
		out = append(bytes.TrimRight(out, "\n"), '\n')
	}
	if err := checkTLS(out, "", ""); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// tlsTable is where the [tls] table is in a document: offsets of whole
// lines.
type tlsTable struct {
	headerStart, headerEnd int               // the header's line, its line end included
	keys                   map[string][]span // the cert and key expressions, in file order
	others                 bool              // the table holds other keys
}

// span is the lines of one key/value expression of the table.
type span struct {
	key        string
	start, end int
}

// keySpans returns the spans of every cert and key expression in file order.
func (t *tlsTable) keySpans() []span {
	var all []span
	for _, ss := range t.keys {
		all = append(all, ss...)
	}
	slices.SortFunc(all, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	return all
}

// findTLS finds the [tls] table of doc; nil when there is none.
func findTLS(doc []byte) (*tlsTable, error) {
	lines := newLineIndex(doc)
	lineStart := func(off int) int { return lines[lines.line(off)-1] }
	lineEnd := func(off int) int {
		if i := bytes.IndexByte(doc[off:], '\n'); i >= 0 {
			return off + i + 1
		}
		return len(doc)
	}
	var p unstable.Parser
	p.Reset(doc)
	var sec *tlsTable
	inTLS, inRoot := false, true
	for p.NextExpression() {
		n := p.Expression()
		keys, off := keyParts(n)
		line := lines.line(off)
		switch n.Kind {
		case unstable.Table, unstable.ArrayTable:
			inRoot, inTLS = false, false
			if keys[0] != "tls" {
				continue
			}
			name := keyPath(keys).String()
			switch {
			case n.Kind == unstable.ArrayTable:
				return nil, fmt.Errorf("line %d: [[%s]] is not a table tls can have", line, name)
			case len(keys) > 1:
				return nil, fmt.Errorf("line %d: [%s] is not a table tls can have", line, name)
			case sec != nil:
				return nil, fmt.Errorf("line %d: a second [tls] table", line)
			}
			start := lineStart(bytes.LastIndexByte(doc[:off], '['))
			sec = &tlsTable{headerStart: start, headerEnd: lineEnd(headerEnd(doc, n)), keys: map[string][]span{}}
			inTLS = true
		case unstable.KeyValue:
			switch {
			case inRoot && keys[0] == "tls":
				return nil, fmt.Errorf("line %d sets tls outside a [tls] table; write it as a [tls] table", line)
			case !inTLS:
			case len(keys) == 1 && (keys[0] == "cert" || keys[0] == "key"):
				s := span{key: keys[0], start: lineStart(int(n.Raw.Offset)), end: lineEnd(int(n.Raw.Offset + n.Raw.Length))}
				sec.keys[keys[0]] = append(sec.keys[keys[0]], s)
			default:
				sec.others = true
			}
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("the config does not parse: %w", err)
	}
	return sec, nil
}

// checkTLS checks that doc parses and sets tls.cert and tls.key to cert
// and key.
func checkTLS(doc []byte, cert, key string) error {
	var c struct {
		TLS struct{ Cert, Key string } `toml:"tls"`
	}
	if err := toml.Unmarshal(bytes.TrimPrefix(doc, bom), &c); err != nil {
		return fmt.Errorf("the edited config does not parse: %w", err)
	}
	if c.TLS.Cert != cert || c.TLS.Key != key {
		return fmt.Errorf("the edited config sets tls.cert %q and tls.key %q, not %q and %q", c.TLS.Cert, c.TLS.Key, cert, key)
	}
	return nil
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
