package config

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// The typed readers of decoded values: each reports a wrong type or
// range at the key's line, in the package's words.

// field returns m[key] and its path under p.
func field(p keyPath, m map[string]any, key string) (any, keyPath, bool) {
	v, ok := m[key]
	return v, p.key(key), ok
}

// checkKeys reports the keys of table m (at p) that are not among known.
// Keys are case-sensitive.
func (d *decoder) checkKeys(p keyPath, m map[string]any, known ...string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if slices.Contains(known, k) {
			continue
		}
		if s := closestKey(k, known); s != "" {
			d.errorf(p.key(k), "unknown key (did you mean %q?)", s)
		} else if len(p) > 0 && slices.Contains(topKeys, k) {
			d.errorf(p.key(k), "unknown key (top-level keys go before the first [table])")
		} else {
			d.errorf(p.key(k), "unknown key")
		}
	}
}

// closestKey returns the known key k is most likely a typo of, or "".
func closestKey(k string, known []string) string {
	best, bestDist := "", 3 // suggest only within an edit distance of 2
	for _, s := range known {
		if strings.EqualFold(s, k) {
			return s
		}
		if dist := editDistance(strings.ToLower(k), s); dist < bestDist {
			best, bestDist = s, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// typeName names the TOML type of a decoded value.
func typeName(v any) string {
	switch v := v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return "datetime"
	case []any:
		if len(v) > 0 && !slices.ContainsFunc(v, func(e any) bool { _, ok := e.(map[string]any); return !ok }) {
			return "array of tables"
		}
		return "array"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

func (d *decoder) wrongType(p keyPath, want string, v any) {
	d.errorf(p, "expected %s, found %s", want, typeName(v))
}

func (d *decoder) str(p keyPath, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.wrongType(p, "string", v)
	}
	return s, ok
}

func (d *decoder) boolean(p keyPath, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		d.wrongType(p, "boolean", v)
	}
	return b, ok
}

// intRange returns v, an integer from lo to hi.
func (d *decoder) intRange(p keyPath, v any, lo, hi int64) (int64, bool) {
	n, ok := v.(int64)
	switch {
	case !ok:
		d.wrongType(p, "integer", v)
	case n < lo:
		d.errorf(p, "must be at least %d, not %d", lo, n)
	case n > hi:
		d.errorf(p, "must be at most %d, not %d", hi, n)
	default:
		return n, true
	}
	return 0, false
}

// duration returns v, a string such as "1s" or "250ms".
func (d *decoder) duration(p keyPath, v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok {
		d.wrongType(p, `duration string such as "1s"`, v)
		return 0, false
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(p, "invalid duration %q", s)
		return 0, false
	}
	return dur, true
}

// pattern compiles v, a regular expression in Go (RE2) syntax; the empty
// string gives nil, which matches anything.
func (d *decoder) pattern(p keyPath, v any) *regexp.Regexp {
	s, ok := d.str(p, v)
	if !ok || s == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			d.errorf(p, "invalid regular expression %q: %s: `%s`", s, se.Code, se.Expr)
		} else {
			d.errorf(p, "invalid regular expression %q: %v", s, err)
		}
		return nil
	}
	return re
}

// strList returns v, an array of strings. A wrong element is reported at
// its own line.
func (d *decoder) strList(p keyPath, v any) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok || typeName(v) == "array of tables" {
		d.wrongType(p, "array of strings", v)
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			d.wrongType(p.index(i), "string", e)
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func (d *decoder) table(p keyPath, v any) (map[string]any, bool) {
	t, ok := v.(map[string]any)
	if !ok {
		d.wrongType(p, "table", v)
	}
	return t, ok
}

// tableList returns v, an array of tables ([[name]] sections, or an array
// of inline tables).
func (d *decoder) tableList(p keyPath, v any) ([]map[string]any, bool) {
	arr, ok := v.([]any)
	if !ok {
		d.wrongType(p, "array of tables", v)
		return nil, false
	}
	out := make([]map[string]any, 0, len(arr))
	for i, e := range arr {
		t, ok := e.(map[string]any)
		if !ok {
			d.wrongType(p.index(i), "table", e)
			return nil, false
		}
		out = append(out, t)
	}
	return out, true
}
