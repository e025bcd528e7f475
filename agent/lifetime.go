package agent

import (
	"time"
)

// LifetimeStatus says where a certificate is in its validity period.
type LifetimeStatus string

// Lifetime statuses, in the order lifetime.check ranks them (worst last).
const (
	StatusValid       LifetimeStatus = "valid"
	StatusNotYetValid LifetimeStatus = "not_yet_valid"
	StatusExpiring    LifetimeStatus = "expiring"
	StatusExpired     LifetimeStatus = "expired"
)

// severity ranks statuses for lifetime.check: expired > expiring >
// not_yet_valid > valid.
var severity = map[LifetimeStatus]int{
	StatusValid:       0,
	StatusNotYetValid: 1,
	StatusExpiring:    2,
	StatusExpired:     3,
}

// Period is a calendar difference.
type Period struct {
	Years, Months, Days int
}

// Lifetime is how long a certificate has left at some moment.
type Lifetime struct {
	Status    LifetimeStatus
	DaysLeft  int    // whole days until notAfter, floor; negative once expired
	Remaining Period // calendar difference until notAfter; zero once expired
}

const day = 24 * time.Hour

// lifetimeAt computes a certificate's Lifetime at now. A certificate is
// expiring when it has renewBeforeDays or fewer days left.
func lifetimeAt(notBefore, notAfter, now time.Time, renewBeforeDays int) Lifetime {
	left := notAfter.Sub(now)
	daysLeft := int(left / day)
	if left < 0 && left%day != 0 {
		daysLeft-- // floor, not truncation, below zero
	}
	months, days := monthsAndDays(now, notAfter)
	lt := Lifetime{
		DaysLeft:  daysLeft,
		Remaining: Period{Years: months / 12, Months: months % 12, Days: days},
	}
	switch {
	case now.Before(notBefore):
		lt.Status = StatusNotYetValid
	case now.After(notAfter):
		lt.Status = StatusExpired
	case daysLeft <= renewBeforeDays:
		lt.Status = StatusExpiring
	default:
		lt.Status = StatusValid
	}
	return lt
}

// monthsAndDays is the calendar difference from from to to as whole months
// and leftover whole days, both zero when to is not after from. A month
// after the 31st ends on the last day of a shorter month (Jan 31 + 1 month =
// Feb 28), as people count, and days are floored like daysLeft, so the two
// never disagree.
func monthsAndDays(from, to time.Time) (months, days int) {
	from, to = from.UTC(), to.UTC()
	if !to.After(from) {
		return 0, 0
	}
	months = (to.Year()-from.Year())*12 + int(to.Month()-from.Month())
	for months > 0 && addMonths(from, months).After(to) {
		months--
	}
	return months, int(to.Sub(addMonths(from, months)) / day)
}

// addMonths adds n calendar months to t, clamping the day to the end of the
// resulting month instead of overflowing into the next one.
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	if last := first.AddDate(0, 1, -1).Day(); d > last {
		d = last
	}
	return first.AddDate(0, 0, d-1)
}
