package config

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// keyPath is the path of a key in the config file: table keys, with an
// index element after an array's key for each item ("media", #1, "name").
type keyPath []string

const indexMark = "\x00#"

func (p keyPath) key(k string) keyPath { return append(p[:len(p):len(p)], k) }

func (p keyPath) index(i int) keyPath {
	return append(p[:len(p):len(p)], indexMark+strconv.Itoa(i))
}

// id identifies p in the map of keyLines.
func (p keyPath) id() string { return strings.Join(p, "\x00.") }

// String returns p as a dotted TOML key without the array indexes, as the
// key is spelled in the file ("media.match_label").
func (p keyPath) String() string {
	var parts []string
	for _, s := range p {
		if !strings.HasPrefix(s, indexMark) {
			parts = append(parts, tomlKey(s))
		}
	}
	return strings.Join(parts, ".")
}

// tomlKey spells one key part: bare when it can be, else quoted.
func tomlKey(k string) string {
	if k != "" && strings.IndexFunc(k, func(r rune) bool { return r > 0x7f || !isBareKeyByte(byte(r)) }) < 0 {
		return k
	}
	return tomlString(k)
}

func isBareKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// lineIndex turns byte offsets of a document into 1-based line numbers.
type lineIndex []int // the offset each line starts at

func newLineIndex(doc []byte) lineIndex {
	starts := lineIndex{0}
	for i, c := range doc {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// line returns the line holding offset off.
func (l lineIndex) line(off int) int {
	i, found := slices.BinarySearch(l, off)
	if found {
		return i + 1
	}
	return i
}

// offset returns the offset of a 1-based line and byte column.
func (l lineIndex) offset(line, col int) int {
	if line < 1 || line > len(l) {
		return 0
	}
	return l[line-1] + max(col-1, 0)
}

// walker follows a document's expressions, as the unstable parser gives
// them, and records the line of every key, table header and array item.
// Items of arrays of tables ([[media]]) are numbered, so a key is found in
// the right table.
type walker struct {
	lines  lineIndex
	found  map[string]int // keyPath id → line
	arrays map[string]int // id of an array of tables → its number of tables so far
	table  keyPath        // the table the expressions are in
}

func newWalker(doc []byte) *walker {
	return &walker{lines: newLineIndex(doc), found: map[string]int{}, arrays: map[string]int{}}
}

func (w *walker) record(p keyPath, line int) {
	if _, ok := w.found[p.id()]; !ok {
		w.found[p.id()] = line
	}
}

// keyLines maps the path id of every key, table header and array item of
// doc, a document that parses, to the line it starts on.
func keyLines(doc []byte) map[string]int {
	w := newWalker(doc)
	var p unstable.Parser
	p.Reset(doc)
	for p.NextExpression() {
		w.expression(p.Expression())
	}
	return w.found
}

// expression records one top-level expression.
func (w *walker) expression(n *unstable.Node) {
	switch n.Kind {
	case unstable.Table, unstable.ArrayTable:
		w.header(n)
	case unstable.KeyValue:
		w.keyValue(w.table, n, 0)
	}
}

// header records a [table] or [[array table]] header and makes it the
// current table. Parent tables that are arrays of tables mean their last
// table. A parent that no line of its own defines ([a.b] alone defines a)
// is on the header's line.
func (w *walker) header(n *unstable.Node) {
	array := n.Kind == unstable.ArrayTable
	keys, line := keyParts(n)
	var table keyPath
	for i, k := range keys {
		table = table.key(k)
		w.record(table, w.lines.line(line))
		if count, ok := w.arrays[table.id()]; ok && (i < len(keys)-1 || !array) {
			table = table.index(count - 1)
		}
	}
	if array {
		w.record(table, w.lines.line(line))
		count := w.arrays[table.id()]
		w.arrays[table.id()] = count + 1
		table = table.index(count)
	}
	w.record(table, w.lines.line(line))
	w.table = table
}

// keyParts returns the parts of a key/value's or a header's key and the
// offset of the first.
func keyParts(n *unstable.Node) (parts []string, offset int) {
	it := n.Key()
	for it.Next() {
		k := it.Node()
		if len(parts) == 0 {
			offset = int(k.Raw.Offset)
		}
		parts = append(parts, string(k.Data))
	}
	return parts, offset
}

// keyValue records key = value in table; fallback is the line of what
// holds it, for values whose line the parser does not tell (empty arrays
// in arrays).
func (w *walker) keyValue(table keyPath, n *unstable.Node, fallback int) {
	p := table
	it := n.Key()
	for it.Next() {
		k := it.Node()
		p = p.key(string(k.Data))
		w.record(p, w.lines.line(int(k.Raw.Offset)))
	}
	w.value(p, n.Value(), w.found[p.id()])
}

// value records the items of an array and the keys of an inline table.
func (w *walker) value(p keyPath, v *unstable.Node, line int) {
	switch v.Kind {
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); i++ {
			e := it.Node()
			ep := p.index(i)
			if off, ok := startOf(e); ok {
				line = w.lines.line(off)
			}
			w.record(ep, line)
			w.value(ep, e, line)
		}
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			w.keyValue(p, it.Node(), line)
		}
	}
}

// startOf returns where a value starts; the parser keeps no range for
// arrays, which start where their first item does.
func startOf(v *unstable.Node) (int, bool) {
	if v.Kind != unstable.Array {
		return int(v.Raw.Offset), true
	}
	for it := v.Children(); it.Next(); {
		if off, ok := startOf(it.Node()); ok {
			return off, true
		}
	}
	return 0, false
}

// syntaxError turns an error of the TOML decoder into an *Error with the
// line it is on and, when it is in a key/value, the key.
func syntaxError(path string, doc []byte, err error) *Error {
	e := &Error{File: path, Err: err}
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return e
	}
	row, col := de.Position()
	e.Line = row
	e.Err = errors.New(tidyMessage(strings.TrimPrefix(de.Error(), "toml: ")))
	if k := de.Key(); len(k) > 0 {
		e.Key = keyPath(k).String()
	} else {
		e.Key = keyAt(doc, newLineIndex(doc).offset(row, col))
	}
	return e
}

// tidyMessage puts a TOML parser message in our error style: no capital,
// no period.
func tidyMessage(msg string) string {
	msg = strings.TrimSuffix(strings.TrimSpace(msg), ".")
	if len(msg) > 1 && msg[0] >= 'A' && msg[0] <= 'Z' && msg[1] >= 'a' && msg[1] <= 'z' {
		msg = string(msg[0]+'a'-'A') + msg[1:]
	}
	return msg
}

// keyAt returns the dotted key of the key/value expression of doc that
// holds offset off, which the decoder found wrong; "" when off is in a
// table header or between expressions. The expressions before off parse;
// the one holding it may not.
func keyAt(doc []byte, off int) string {
	w := newWalker(doc)
	var p unstable.Parser
	p.Reset(doc)
	end := 0 // where the last expression parsed ends
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.KeyValue:
			start, stop := int(n.Raw.Offset), int(n.Raw.Offset+n.Raw.Length)
			if start <= off && off < stop {
				keys, _ := keyParts(n)
				return append(w.table, keys...).String()
			}
			end = stop
		case unstable.Table, unstable.ArrayTable:
			w.header(n)
			end = headerEnd(doc, n)
		}
		if end > off {
			return ""
		}
	}
	start := skipTrivia(doc, end)
	if start >= len(doc) || doc[start] == '[' || p.Error() == nil {
		return ""
	}
	if keys := brokenKey(doc[start:min(max(off, start), len(doc))]); keys != nil {
		return append(w.table, keys...).String()
	}
	return ""
}

// headerEnd returns the offset after a table header's closing brackets.
func headerEnd(doc []byte, n *unstable.Node) int {
	var last *unstable.Node
	for it := n.Key(); it.Next(); {
		last = it.Node()
	}
	i := int(last.Raw.Offset + last.Raw.Length)
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == ']') {
		i++
	}
	return i
}

// skipTrivia returns the offset of the next expression at or after i:
// past blanks, line ends and comments.
func skipTrivia(doc []byte, i int) int {
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '#':
			if j := bytes.IndexByte(doc[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(doc)
			}
		default:
			return i
		}
	}
	return i
}

// brokenKey returns the key of a key/value expression that fails to parse
// at the end of expr, whose key is whole: the text before the '=' that
// ends the key parses as `KEY = 0`. A key and its '=' are on one line; an
// '=' further right is inside the value, and the text before it is not a
// key. Nil when no '=' ends a key.
func brokenKey(expr []byte) []string {
	if i := bytes.IndexByte(expr, '\n'); i >= 0 {
		expr = expr[:i]
	}
	for i, tries := len(expr)-1, 0; i >= 0 && tries < 32; i-- {
		if expr[i] != '=' {
			continue
		}
		tries++
		var p unstable.Parser
		p.Reset(append(slices.Clone(expr[:i]), "= 0"...))
		if p.NextExpression() && p.Expression().Kind == unstable.KeyValue {
			keys, _ := keyParts(p.Expression())
			if !p.NextExpression() && p.Error() == nil {
				return keys
			}
		}
	}
	return nil
}
