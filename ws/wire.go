package ws

import (
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/tokenagent/tokenagent/agent"
)

// This file holds the protocol's JSON shapes and the conversions from the
// agent's types: field names, nulls, base64 and times are decided here and
// nowhere else.

// wireTime formats t as RFC 3339 in UTC without fractional seconds.
func wireTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// nullable returns nil for an empty string, so that it encodes as null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nonNil returns s, or an empty slice in its place, so that it encodes as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type infoWire struct {
	Name     string       `json:"name"`
	Version  string       `json:"version"`
	Protocol int          `json:"protocol"`
	Modules  []moduleWire `json:"modules"`
	PCSC     pcscWire     `json:"pcsc"`
}

type moduleWire struct {
	Path           string  `json:"path"`
	Manufacturer   string  `json:"manufacturer"`
	Description    string  `json:"description"`
	LibraryVersion string  `json:"libraryVersion"`
	State          string  `json:"state"` // an extension: ready, recovering or failed
	Error          *string `json:"error"`
}

type pcscWire struct {
	Available bool     `json:"available"`
	Readers   []string `json:"readers"`
	Error     *string  `json:"error"`
	// Cards explains the cards present (an extension, see the README);
	// left out when there are none.
	Cards []cardStatusWire `json:"cards,omitempty"`
}

func toInfo(in agent.Info) infoWire {
	out := infoWire{
		Name:     in.Name,
		Version:  in.Version,
		Protocol: in.Protocol,
		Modules:  make([]moduleWire, len(in.Modules)),
		PCSC: pcscWire{
			Available: in.PCSC.Available,
			Readers:   nonNil(in.PCSC.Readers),
			Error:     nullable(in.PCSC.Err),
			Cards:     toCardStatuses(in.PCSC.Cards),
		},
	}
	for i, m := range in.Modules {
		mw := moduleWire{
			Path:           m.Path,
			Manufacturer:   m.Info.Manufacturer,
			Description:    m.Info.Description,
			LibraryVersion: m.Info.LibraryVersion,
			State:          string(m.State),
		}
		if m.Err != nil {
			msg := m.Err.Error()
			mw.Error = &msg
		}
		out.Modules[i] = mw
	}
	return out
}

type tokenWire struct {
	ID           string     `json:"id"`
	Label        string     `json:"label"`
	Manufacturer string     `json:"manufacturer"`
	Model        string     `json:"model"`
	Serial       string     `json:"serial"`
	Module       string     `json:"module"`
	Slot         uint       `json:"slot"`
	Reader       *string    `json:"reader"`
	ATR          *string    `json:"atr"`
	PIN          pinWire    `json:"pin"`
	Media        *mediaWire `json:"media"`
	ReadOnly     bool       `json:"readOnly"`
}

type pinWire struct {
	Initialized   bool `json:"initialized"`
	LoginRequired bool `json:"loginRequired"`
	Locked        bool `json:"locked"`
	CountLow      bool `json:"countLow"`
	FinalTry      bool `json:"finalTry"`
	SOLocked      bool `json:"soLocked"`
	SOCountLow    bool `json:"soCountLow"`
	SOFinalTry    bool `json:"soFinalTry"`
	// ProtectedAuthPath (an extension): the PIN is typed on the reader's
	// PIN pad; pages send "" for it.
	ProtectedAuthPath bool `json:"protectedAuthPath"`
	MinLen            int  `json:"minLen"`
	MaxLen            int  `json:"maxLen"`
}

type mediaWire struct {
	Profile     string  `json:"profile"`
	Legacy      bool    `json:"legacy"`
	UpgradeTo   *string `json:"upgradeTo"`
	Description string  `json:"description"`
}

func toToken(t agent.Token) tokenWire {
	out := tokenWire{
		ID:           t.ID,
		Label:        t.Label,
		Manufacturer: t.Manufacturer,
		Model:        t.Model,
		Serial:       t.Serial,
		Module:       t.Module,
		Slot:         t.Slot,
		Reader:       nullable(t.Reader),
		ATR:          nullable(t.ATR),
		PIN: pinWire{
			Initialized:       t.PIN.Initialized,
			LoginRequired:     t.PIN.LoginRequired,
			Locked:            t.PIN.Locked,
			CountLow:          t.PIN.CountLow,
			FinalTry:          t.PIN.FinalTry,
			SOLocked:          t.PIN.SOLocked,
			SOCountLow:        t.PIN.SOCountLow,
			SOFinalTry:        t.PIN.SOFinalTry,
			ProtectedAuthPath: t.PIN.ProtectedAuthPath,
			MinLen:            t.PIN.MinLen,
			MaxLen:            t.PIN.MaxLen,
		},
		ReadOnly: t.ReadOnly,
	}
	if m := t.Media; m != nil {
		out.Media = &mediaWire{
			Profile:     m.Profile,
			Legacy:      m.Legacy,
			UpgradeTo:   nullable(m.UpgradeTo),
			Description: m.Description,
		}
	}
	return out
}

type tokensWire struct {
	Tokens []tokenWire `json:"tokens"`
}

func toTokens(ts []agent.Token) tokensWire {
	out := tokensWire{Tokens: make([]tokenWire, len(ts))}
	for i, t := range ts {
		out.Tokens[i] = toToken(t)
	}
	return out
}

type periodWire struct {
	Years  int `json:"years"`
	Months int `json:"months"`
	Days   int `json:"days"`
}

type lifetimeWire struct {
	Status    string     `json:"status"`
	DaysLeft  int        `json:"daysLeft"`
	Remaining periodWire `json:"remaining"`
}

func toLifetime(l agent.Lifetime) lifetimeWire {
	return lifetimeWire{
		Status:    string(l.Status),
		DaysLeft:  l.DaysLeft,
		Remaining: periodWire{Years: l.Remaining.Years, Months: l.Remaining.Months, Days: l.Remaining.Days},
	}
}

type certWire struct {
	ID           string       `json:"id"`
	Label        string       `json:"label"`
	Subject      string       `json:"subject"`
	Issuer       string       `json:"issuer"`
	SerialNumber string       `json:"serialNumber"`
	NotBefore    string       `json:"notBefore"`
	NotAfter     string       `json:"notAfter"`
	SHA256       string       `json:"sha256"`
	KeyAlgorithm string       `json:"keyAlgorithm"`
	KeySize      int          `json:"keySize"`
	Curve        *string      `json:"curve"`
	ParamSet     string       `json:"paramSet,omitempty"` // GOST keys only
	KeyUsage     []string     `json:"keyUsage"`
	DER          string       `json:"der"`
	Lifetime     lifetimeWire `json:"lifetime"`
}

// serialHex is the lowercase hex of a certificate serial's magnitude,
// big-endian, two digits a byte ("00" for zero).
func serialHex(c agent.Certificate) string {
	if c.Cert.SerialNumber == nil || c.Cert.SerialNumber.Sign() == 0 {
		return "00"
	}
	return hex.EncodeToString(c.Cert.SerialNumber.Bytes())
}

func toCert(c agent.Certificate) certWire {
	return certWire{
		ID:           c.ID,
		Label:        c.Label,
		Subject:      c.Cert.Subject.String(),
		Issuer:       c.Cert.Issuer.String(),
		SerialNumber: serialHex(c),
		NotBefore:    wireTime(c.Cert.NotBefore),
		NotAfter:     wireTime(c.Cert.NotAfter),
		SHA256:       c.SHA256,
		KeyAlgorithm: c.KeyAlgorithm,
		KeySize:      c.KeySize,
		Curve:        nullable(c.Curve),
		ParamSet:     c.ParamSet,
		KeyUsage:     nonNil(c.KeyUsage),
		DER:          base64.StdEncoding.EncodeToString(c.Cert.Raw),
		Lifetime:     toLifetime(c.Lifetime),
	}
}

type certsWire struct {
	Certificates []certWire `json:"certificates"`
}

func toCerts(cs []agent.Certificate) certsWire {
	out := certsWire{Certificates: make([]certWire, len(cs))}
	for i, c := range cs {
		out.Certificates[i] = toCert(c)
	}
	return out
}

type certLifetimeWire struct {
	ID       string       `json:"id"`
	Subject  string       `json:"subject"`
	NotAfter string       `json:"notAfter"`
	Lifetime lifetimeWire `json:"lifetime"`
}

type lifetimeReportWire struct {
	Token            string             `json:"token"`
	Status           string             `json:"status"`
	RenewRecommended bool               `json:"renewRecommended"`
	EarliestNotAfter *string            `json:"earliestNotAfter"`
	Certificates     []certLifetimeWire `json:"certificates"`
}

func toLifetimeReport(r agent.LifetimeReport) lifetimeReportWire {
	out := lifetimeReportWire{
		Token:            r.Token,
		Status:           r.Status,
		RenewRecommended: r.RenewRecommended,
		Certificates:     make([]certLifetimeWire, len(r.Certificates)),
	}
	if !r.EarliestNotAfter.IsZero() {
		s := wireTime(r.EarliestNotAfter)
		out.EarliestNotAfter = &s
	}
	for i, c := range r.Certificates {
		out.Certificates[i] = certLifetimeWire{
			ID:       c.ID,
			Subject:  c.Subject,
			NotAfter: wireTime(c.NotAfter),
			Lifetime: toLifetime(c.Lifetime),
		}
	}
	return out
}

type healthWire struct {
	Status   string `json:"status"`
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
	Busy     bool   `json:"busy"` // an extension: no place for a socket from this origin now
}
