package agent

import (
	"context"
	"regexp"
	"slices"
	"time"

	"github.com/tokenagent/tokenagent/token"
)

// MediaProfile is an entry of the media catalogue: which tokens it matches
// and what the agent says about them.
type MediaProfile struct {
	Name            string
	Description     string
	Legacy          bool
	UpgradeTo       string // profile name of the media to upgrade to
	CarryOverMonths int    // lifetime moving to new media; the rest is credit
	// Patterns over the token's fields; nil matches anything.
	MatchManufacturer *regexp.Regexp
	MatchModel        *regexp.Regexp
	MatchLabel        *regexp.Regexp
	MatchATR          *regexp.Regexp // against the lowercase hex ATR
}

// Media is what the catalogue says about one token.
type Media struct {
	Profile     string
	Description string
	Legacy      bool
	UpgradeTo   string // empty when there is nothing to upgrade to
}

// matches reports whether every pattern of p matches the token.
func (p *MediaProfile) matches(t *Token) bool {
	fields := []struct {
		re    *regexp.Regexp
		value string
	}{
		{p.MatchManufacturer, t.Manufacturer},
		{p.MatchModel, t.Model},
		{p.MatchLabel, t.Label},
		{p.MatchATR, t.ATR},
	}
	for _, f := range fields {
		if f.re != nil && !f.re.MatchString(f.value) {
			return false
		}
	}
	return true
}

// mediaProfile returns the first profile matching t, or nil.
func (a *Agent) mediaProfile(t *Token) *MediaProfile {
	for i := range a.opts.Media {
		if a.opts.Media[i].matches(t) {
			return &a.opts.Media[i]
		}
	}
	return nil
}

// DefaultCarryOverMonths is a media profile's CarryOverMonths unless
// configured otherwise.
const DefaultCarryOverMonths = 12

// DefaultMedia is the media catalogue used when the configuration has none:
// token models known to be legacy media, and the current ones they upgrade
// to.
var DefaultMedia = []MediaProfile{
	{
		Name: "etoken-pro-java", Description: "SafeNet eToken PRO Java (end of life)", Legacy: true,
		UpgradeTo: "etoken-5110", CarryOverMonths: DefaultCarryOverMonths,
		MatchManufacturer: regexp.MustCompile(`(?i)safenet|aladdin|gemalto`), MatchModel: regexp.MustCompile(`(?i)^eToken( PRO)?( Java)?$`),
	},
	{
		Name: "rutoken-s", Description: "Rutoken S (no on-chip cryptography)", Legacy: true,
		UpgradeTo: "rutoken-ecp", CarryOverMonths: DefaultCarryOverMonths,
		MatchManufacturer: regexp.MustCompile(`(?i)aktiv`), MatchModel: regexp.MustCompile(`(?i)rutoken s\b`),
	},
	{
		Name: "etoken-5110", Description: "SafeNet eToken 5110", CarryOverMonths: DefaultCarryOverMonths,
		MatchManufacturer: regexp.MustCompile(`(?i)safenet|gemalto|thales`), MatchModel: regexp.MustCompile(`(?i)5110`),
	},
	{
		Name: "rutoken-ecp", Description: "Rutoken ECP", CarryOverMonths: DefaultCarryOverMonths,
		MatchManufacturer: regexp.MustCompile(`(?i)aktiv`), MatchModel: regexp.MustCompile(`(?i)ecp`),
	},
}

// MonthsDays is a stretch of time in whole calendar months and days.
type MonthsDays struct {
	Months, Days int
}

// MediaReport is the media.check result.
type MediaReport struct {
	Token     string
	Profile   string // empty when no profile matches
	Legacy    bool
	UpgradeTo string // empty when there is nothing to upgrade to
	// UpgradeToDescription is the catalogue's description of UpgradeTo,
	// for people; empty when the catalogue has no such profile.
	UpgradeToDescription string
	// CarryOverMonths is the rule's months (the profile's
	// carry_over_months); 0 for media that is not legacy.
	CarryOverMonths int
	Cert            string // the certificate considered; empty when none
	Remaining       MonthsDays
	CarryOver       MonthsDays
	Credit          MonthsDays
}

// carryOver splits what a certificate has left between what moves to new
// media and what becomes credit: carryMonths move when at least that much
// remains, else all of it is credit.
func carryOver(remaining MonthsDays, carryMonths int) (carry, credit MonthsDays) {
	if remaining.Months >= carryMonths {
		return MonthsDays{Months: carryMonths}, MonthsDays{Months: remaining.Months - carryMonths, Days: remaining.Days}
	}
	return MonthsDays{}, remaining
}

// CheckMedia tells whether a token is legacy media and how the remaining
// lifetime of certificate certID (the one expiring last when empty) carries
// over to new media at at (now when zero).
func (a *Agent) CheckMedia(ctx context.Context, tokenID, certID string, at time.Time) (MediaReport, error) {
	tokens, err := a.Tokens(ctx)
	if err != nil {
		return MediaReport{}, err
	}
	i := slices.IndexFunc(tokens, func(t Token) bool { return t.ID == tokenID })
	if i < 0 {
		return MediaReport{}, Errorf(TokenNotFound, "token %s not found", tokenID)
	}
	certs, err := a.hw.Certificates(ctx, tokenID)
	if err != nil {
		return MediaReport{}, classify(err)
	}
	if at.IsZero() {
		at = a.opts.Now()
	}
	r := MediaReport{Token: tokenID}
	var chosen *token.Certificate
	for j := range certs {
		c := &certs[j]
		if (certID != "" && c.ID == certID) || (certID == "" && (chosen == nil || c.Cert.NotAfter.After(chosen.Cert.NotAfter))) {
			chosen = c
		}
	}
	if certID != "" && chosen == nil {
		return MediaReport{}, Errorf(ObjectNotFound, "certificate %s not found", certID)
	}
	if chosen != nil {
		r.Cert = chosen.ID
		months, days := monthsAndDays(at, chosen.Cert.NotAfter)
		r.Remaining = MonthsDays{Months: months, Days: days}
	}
	p := a.mediaProfile(&tokens[i])
	if p == nil {
		return r, nil
	}
	r.Profile = p.Name
	if !p.Legacy {
		return r, nil
	}
	r.Legacy, r.UpgradeTo, r.CarryOverMonths = true, p.UpgradeTo, p.CarryOverMonths
	if i := slices.IndexFunc(a.opts.Media, func(m MediaProfile) bool { return m.Name == p.UpgradeTo }); i >= 0 {
		r.UpgradeToDescription = a.opts.Media[i].Description
	}
	r.CarryOver, r.Credit = carryOver(r.Remaining, p.CarryOverMonths)
	return r, nil
}
