package agent

import (
	"regexp"
	"testing"
)

func TestCarryOver(t *testing.T) {
	tests := []struct {
		name          string
		at, notAfter  string
		carryMonths   int
		remaining     MonthsDays
		carry, credit MonthsDays
	}{
		{"20 months 3 days", "2026-01-10T00:00:00Z", "2027-09-13T00:00:00Z", 12, MonthsDays{20, 3}, MonthsDays{12, 0}, MonthsDays{8, 3}},
		{"8 months", "2026-01-10T00:00:00Z", "2026-09-10T00:00:00Z", 12, MonthsDays{8, 0}, MonthsDays{}, MonthsDays{8, 0}},
		{"exactly 12 months", "2026-01-10T00:00:00Z", "2027-01-10T00:00:00Z", 12, MonthsDays{12, 0}, MonthsDays{12, 0}, MonthsDays{}},
		{"a day short of 12 months", "2026-01-10T00:00:00Z", "2027-01-09T00:00:00Z", 12, MonthsDays{11, 30}, MonthsDays{}, MonthsDays{11, 30}},
		{"expired", "2027-02-01T00:00:00Z", "2027-01-10T00:00:00Z", 12, MonthsDays{}, MonthsDays{}, MonthsDays{}},
		{"month end: Jan 31 to Feb 28 next year", "2026-01-31T00:00:00Z", "2027-02-28T00:00:00Z", 12, MonthsDays{13, 0}, MonthsDays{12, 0}, MonthsDays{1, 0}},
		{"leap day: Feb 29 to Feb 28", "2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z", 12, MonthsDays{12, 0}, MonthsDays{12, 0}, MonthsDays{}},
		{"leap year: Jan 31 to Mar 1", "2028-01-31T00:00:00Z", "2028-03-01T00:00:00Z", 12, MonthsDays{1, 1}, MonthsDays{}, MonthsDays{1, 1}},
		{"carry 6 months", "2026-01-10T00:00:00Z", "2026-12-25T00:00:00Z", 6, MonthsDays{11, 15}, MonthsDays{6, 0}, MonthsDays{5, 15}},
		{"carry nothing", "2026-01-10T00:00:00Z", "2026-12-25T00:00:00Z", 0, MonthsDays{11, 15}, MonthsDays{}, MonthsDays{11, 15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, d := monthsAndDays(date(tt.at), date(tt.notAfter))
			if got := (MonthsDays{m, d}); got != tt.remaining {
				t.Fatalf("remaining = %+v, want %+v", got, tt.remaining)
			}
			carry, credit := carryOver(tt.remaining, tt.carryMonths)
			if carry != tt.carry || credit != tt.credit {
				t.Errorf("carry %+v credit %+v, want %+v %+v", carry, credit, tt.carry, tt.credit)
			}
		})
	}
}

func TestMediaProfileMatching(t *testing.T) {
	a := New(nil, Options{Media: []MediaProfile{
		{Name: "legacy-label", Legacy: true, MatchLabel: regexp.MustCompile("^legacy-")},
		{Name: "by-atr", MatchATR: regexp.MustCompile("^3b95")},
		{Name: "by-maker-and-model", MatchManufacturer: regexp.MustCompile("Aktiv"), MatchModel: regexp.MustCompile("ECP")},
		{Name: "catch-all"},
	}})
	tests := []struct {
		tok  Token
		want string
	}{
		{Token{Label: "legacy-alice", ATR: "3b95"}, "legacy-label"}, // first match wins
		{Token{Label: "alice", ATR: "3b951381"}, "by-atr"},
		{Token{Label: "alice", Manufacturer: "Aktiv Co.", Model: "Rutoken ECP"}, "by-maker-and-model"},
		{Token{Label: "alice", Manufacturer: "Aktiv Co.", Model: "Rutoken S"}, "catch-all"},
	}
	for _, tt := range tests {
		if p := a.mediaProfile(&tt.tok); p == nil || p.Name != tt.want {
			t.Errorf("%+v matched %v, want %s", tt.tok, p, tt.want)
		}
	}
	if p := New(nil, Options{}).mediaProfile(&Token{Label: "x"}); p != nil {
		t.Errorf("empty catalogue matched %v", p)
	}
	for _, tt := range []struct {
		tok  Token
		want string
	}{
		{Token{Manufacturer: "SafeNet, Inc.", Model: "eToken"}, "etoken-pro-java"},
		{Token{Manufacturer: "Aktiv Co.", Model: "Rutoken S 64K"}, "rutoken-s"},
		{Token{Manufacturer: "Aktiv Co.", Model: "Rutoken ECP"}, "rutoken-ecp"},
	} {
		if p := New(nil, Options{Media: DefaultMedia}).mediaProfile(&tt.tok); p == nil || p.Name != tt.want {
			t.Errorf("default catalogue: %+v matched %v, want %s", tt.tok, p, tt.want)
		}
	}
}
