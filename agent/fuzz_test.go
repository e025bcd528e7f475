package agent

import (
	"encoding/hex"
	"regexp"
	"testing"
)

// FuzzMediaMatch matches tokens against the protocol's example profile
// followed by DefaultMedia. It checks that the profile found is the first
// one, in catalogue order, whose every pattern matches its field (PROTOCOL
// section 6: first match wins), or none when no profile matches; and that
// ASCII case does not matter for manufacturer and model, which every
// pattern of the default catalogue matches with (?i).
func FuzzMediaMatch(f *testing.F) {
	catalogue := append([]MediaProfile{{
		Name: "cpp-blue", Legacy: true, UpgradeTo: "bjca", CarryOverMonths: 12,
		MatchLabel: regexp.MustCompile("^legacy-"),
	}}, DefaultMedia...)
	a := New(nil, Options{Media: catalogue})
	for _, seed := range []struct {
		label, manufacturer, model string
		atr                        []byte
	}{
		{"legacy-alice", "SoftHSM project", "SoftHSM v2", nil},
		{"alice", "SafeNet, Inc.", "eToken", []byte{0x3b, 0xd5, 0x18, 0x00, 0x81, 0x31, 0xfe, 0x7d}},
		{"alice", "Aktiv Co.", "Rutoken S 64K", nil},
		{"alice", "Aktiv Co.", "Rutoken ECP", []byte{0x3b, 0x8b, 0x01, 0x52, 0x75, 0x74, 0x6f, 0x6b, 0x65, 0x6e}},
		{"alice", "Thales", "eToken 5110 CC", nil},
		{"", "", "", []byte{0x3b, 0x95, 0x13, 0x81, 0x01, 0x80, 0x73, 0xff, 0x01, 0x00, 0x0b}},
		{"\xff", "aktiv\x00", "rutoken s\u0131", nil},
	} {
		f.Add(seed.label, seed.manufacturer, seed.model, seed.atr)
	}
	f.Fuzz(func(t *testing.T, label, manufacturer, model string, atr []byte) {
		tok := Token{Label: label, Manufacturer: manufacturer, Model: model, ATR: hex.EncodeToString(atr)}
		got := a.mediaProfile(&tok)
		media := a.opts.Media
		i := len(media) // the index of got; len(media) for none
		for j := range media {
			if got == &media[j] {
				i = j
			}
		}
		if got != nil && i == len(media) {
			t.Fatalf("%+v: profile %q is not from the catalogue", tok, got.Name)
		}
		for j, p := range media[:min(i+1, len(media))] {
			all := true
			for _, m := range []struct {
				re    *regexp.Regexp
				value string
			}{{p.MatchManufacturer, tok.Manufacturer}, {p.MatchModel, tok.Model}, {p.MatchLabel, tok.Label}, {p.MatchATR, tok.ATR}} {
				all = all && (m.re == nil || m.re.MatchString(m.value))
			}
			if all != (j == i) {
				t.Fatalf("%+v: matched %d, but profile %d (%s) matches: %v", tok, i, j, p.Name, all)
			}
		}
		upper := tok
		upper.Manufacturer, upper.Model = asciiUpper(manufacturer), asciiUpper(model)
		if again := a.mediaProfile(&upper); again != got {
			t.Fatalf("%+v matched %v, in upper case %v", tok, got, again)
		}
	})
}

// asciiUpper upper-cases the ASCII letters of s only: a Unicode case
// mapping can turn a non-word character into an ASCII letter, which
// changes what \b sees.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
