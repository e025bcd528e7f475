package agent

import (
	"testing"
	"time"
)

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestLifetimeAt(t *testing.T) {
	const renewBefore = 30
	tests := []struct {
		name      string
		notBefore string
		notAfter  string
		now       string
		want      Lifetime
	}{
		{"valid, exact months", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "2026-03-01T00:00:00Z",
			Lifetime{StatusValid, 306, Period{0, 10, 0}}},
		{"valid, years months days", "2026-01-01T00:00:00Z", "2029-05-20T00:00:00Z", "2026-03-01T00:00:00Z",
			Lifetime{StatusValid, 1176, Period{3, 2, 19}}},
		{"time of day floors the days", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "2026-11-23T17:56:00Z",
			Lifetime{StatusValid, 38, Period{0, 1, 8}}},
		{"expiring at the threshold", "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z", "2026-12-01T00:00:00Z",
			Lifetime{StatusExpiring, 30, Period{0, 0, 30}}},
		{"valid one day before the threshold", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "2026-12-01T00:00:00Z",
			Lifetime{StatusValid, 31, Period{0, 1, 0}}},
		{"expiring on the last instant", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z",
			Lifetime{StatusExpiring, 0, Period{}}},
		{"expired a moment ago", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-01-01T00:00:01Z",
			Lifetime{StatusExpired, -1, Period{}}},
		{"expired ten days ago", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-01-11T00:00:00Z",
			Lifetime{StatusExpired, -10, Period{}}},
		{"not yet valid", "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z", "2026-12-01T00:00:00Z",
			Lifetime{StatusNotYetValid, 396, Period{1, 1, 0}}},
		{"month end: Jan 31 to Feb 28 is one month", "2026-01-01T00:00:00Z", "2027-02-28T00:00:00Z", "2027-01-31T00:00:00Z",
			Lifetime{StatusExpiring, 28, Period{0, 1, 0}}},
		{"month end: Jan 31 to Feb 27", "2026-01-01T00:00:00Z", "2027-02-27T00:00:00Z", "2027-01-31T00:00:00Z",
			Lifetime{StatusExpiring, 27, Period{0, 0, 27}}},
		{"month end: Jan 31 to Mar 1", "2026-01-01T00:00:00Z", "2027-03-01T00:00:00Z", "2027-01-31T00:00:00Z",
			Lifetime{StatusExpiring, 29, Period{0, 1, 1}}},
		{"month end: Jan 31 to Feb 29 of a leap year", "2027-01-01T00:00:00Z", "2028-02-29T00:00:00Z", "2028-01-31T00:00:00Z",
			Lifetime{StatusExpiring, 29, Period{0, 1, 0}}},
		{"leap day to the next Feb 28", "2027-01-01T00:00:00Z", "2029-02-28T00:00:00Z", "2028-02-29T00:00:00Z",
			Lifetime{StatusValid, 365, Period{1, 0, 0}}},
		{"Mar 31 to Apr 30", "2026-01-01T00:00:00Z", "2027-04-30T00:00:00Z", "2027-03-31T00:00:00Z",
			Lifetime{StatusExpiring, 30, Period{0, 1, 0}}},
		{"across a year end", "2026-01-01T00:00:00Z", "2027-01-15T12:00:00Z", "2026-12-20T12:00:00Z",
			Lifetime{StatusExpiring, 26, Period{0, 0, 26}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lifetimeAt(date(tt.notBefore), date(tt.notAfter), date(tt.now), renewBefore)
			if got != tt.want {
				t.Errorf("lifetimeAt(now=%s, notAfter=%s) = %+v, want %+v", tt.now, tt.notAfter, got, tt.want)
			}
		})
	}
}

func TestAddMonthsClamps(t *testing.T) {
	tests := []struct {
		from string
		n    int
		want string
	}{
		{"2027-01-31T10:00:00Z", 1, "2027-02-28T10:00:00Z"},
		{"2028-01-31T10:00:00Z", 1, "2028-02-29T10:00:00Z"},
		{"2027-01-31T10:00:00Z", 2, "2027-03-31T10:00:00Z"},
		{"2027-08-31T00:00:00Z", 1, "2027-09-30T00:00:00Z"},
		{"2027-11-15T00:00:00Z", 14, "2029-01-15T00:00:00Z"},
		{"2028-02-29T00:00:00Z", 12, "2029-02-28T00:00:00Z"},
	}
	for _, tt := range tests {
		if got := addMonths(date(tt.from), tt.n); !got.Equal(date(tt.want)) {
			t.Errorf("addMonths(%s, %d) = %s, want %s", tt.from, tt.n, got.Format(time.RFC3339), tt.want)
		}
	}
}
