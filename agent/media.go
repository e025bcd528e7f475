package agent

import "regexp"

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
