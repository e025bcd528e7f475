package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// This file holds the bounds on params (PROTOCOL.md section 2, "Bounds").
// Every value a method hashes, audits, keeps or hands to the token is
// checked against its bound as it is read, before anything else is done
// with it: a page sending megabytes in a token id or a hundred thousand
// batch items gets INVALID_PARAMS, and the call's one audit line, for the
// cost of reading the frame.

const (
	tokenIDLength  = 32   // hex characters: 16 bytes of SHA-256 (PROTOCOL.md section 2)
	maxObjectID    = 256  // bytes: the hex of a 127-byte CKA_ID with its "~N"
	maxLabel       = 256  // bytes of a key's or certificate's label
	maxPIN         = 1024 // bytes; far beyond any token's own maximum
	maxCertificate = 64 << 10
	maxNames       = 100 // dnsNames, emails
	maxDNSName     = 253 // characters (RFC 1035)
	maxEmail       = 255 // characters (RFC 5280 ub-emailaddress-length)
	maxParamSet    = 64  // bytes of a GOST parameter set's name or OID
)

// subjectBounds are RFC 5280's upper bounds (ub-…) on the subject's
// attributes, in characters, by their protocol names.
var subjectBounds = map[string]int{
	"commonName":         64,
	"organization":       64,
	"organizationalUnit": 64,
	"country":            2,
	"province":           128,
	"locality":           128,
	"serialNumber":       64,
	"email":              255,
}

// isTokenID reports whether s has the form of a token id: 32 lowercase hex
// characters.
func isTokenID(s string) bool {
	if len(s) != tokenIDLength {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// tokenID returns the token member: a string in the form of a token id. A
// well-formed id that names no token is the agent's TOKEN_NOT_FOUND.
func (p paramSet) tokenID() (string, error) {
	s, err := p.requiredString("token")
	if err != nil {
		return "", err
	}
	if !isTokenID(s) {
		return "", invalid(`"token" must be a token id from tokens.list (32 lowercase hex characters)`)
	}
	return s, nil
}

// auditTokenID returns the token member for the audit line of a refused
// call: the id when it is well formed, else nothing, so that what a page
// puts there never reaches the log.
func (p paramSet) auditTokenID() string {
	s, err := p.requiredString("token")
	if err != nil || !isTokenID(s) {
		return ""
	}
	return s
}

// bounded returns the string member name, or def when it is absent, when
// it holds at most max bytes.
func (p paramSet) bounded(name, def string, max int) (string, error) {
	s, err := p.optionalString(name, def)
	if err == nil && len(s) > max {
		err = invalid("%q must hold at most %d bytes", name, max)
	}
	return s, err
}

// requiredBounded is bounded for a member that must be there.
func (p paramSet) requiredBounded(name string, max int) (string, error) {
	if !p.present(name) {
		return "", invalid("missing %q", name)
	}
	return p.bounded(name, "", max)
}

// objectID returns the object id member name ("" when it is absent and
// not required).
func (p paramSet) objectID(name string, required bool) (string, error) {
	if required {
		return p.requiredBounded(name, maxObjectID)
	}
	return p.bounded(name, "", maxObjectID)
}

// pin returns the PIN member name as bytes that the agent clears when the
// call ends. A JSON string without escapes, as PINs are, is its bytes
// between the quotes: pin returns them in place, in the params member,
// which pinTaking clears as well, so no copy is made. One with escapes is
// decoded by encoding/json into a Go string first, which no one can
// clear (PROTOCOL.md section 2).
func (p paramSet) pin(name string) ([]byte, error) {
	if !p.present(name) {
		return nil, invalid("missing %q", name)
	}
	v := bytes.TrimSpace(p[name])
	if kind(v) != '"' {
		return nil, invalid("%q must be a string", name)
	}
	pin := v[1 : len(v)-1]
	if bytes.IndexByte(pin, '\\') >= 0 {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, invalid("%q must be a string", name)
		}
		pin = []byte(s)
	}
	if len(pin) > maxPIN {
		clear(pin)
		return nil, invalid("%q must hold at most %d bytes", name, maxPIN)
	}
	return pin, nil
}

// names returns the array of strings member name (nil when absent) when it
// holds at most maxNames strings of at most max characters each.
func (p paramSet) names(name string, max int) ([]string, error) {
	if !p.present(name) {
		return nil, nil
	}
	if kind(p[name]) != '[' {
		return nil, invalid("%q must be an array of strings", name)
	}
	elems, err := arrayElements(p[name], maxNames)
	if errors.Is(err, errTooMany) {
		return nil, invalid("%q must hold at most %d entries", name, maxNames)
	}
	if err != nil {
		return nil, invalid("%q must be an array of strings", name)
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		if kind(e) != '"' || json.Unmarshal(e, &out[i]) != nil {
			return nil, invalid("%q must be an array of strings", name)
		}
		if utf8.RuneCountInString(out[i]) > max {
			return nil, invalid("%s[%d] must hold at most %d characters", name, i, max)
		}
	}
	return out, nil
}

// errTooMany is arrayElements' error for an array longer than its bound.
var errTooMany = errors.New("too many elements")

// arrayElements returns the elements of the JSON array raw, or errTooMany
// as soon as it finds more than max: it reads no further, so a longer
// array costs nothing but the frame it came in.
func arrayElements(raw json.RawMessage, max int) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for dec.More() {
		if len(out) == max {
			return nil, errTooMany
		}
		var e json.RawMessage
		if err := dec.Decode(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
