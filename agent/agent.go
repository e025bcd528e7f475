package agent

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/tokenagent/tokenagent/token"
)

// Name and Protocol identify the agent in agent.info and /healthz.
const (
	Name     = "tokenagent"
	Protocol = 1
)

// Hardware is what the agent needs from the token layer.
type Hardware interface {
	Modules() []token.ModuleStatus
	Tokens(ctx context.Context) ([]token.TokenInfo, error)
	Certificates(ctx context.Context, tokenID string) ([]token.Certificate, error)
	Keys(ctx context.Context, tokenID string) (token.KeyListing, error)
	Login(ctx context.Context, tokenID string, cred token.Credentials, fn func(s *token.Session) error) error
	Admit(ctx context.Context, tokenID string, cred token.Credentials) error
	ChangePIN(ctx context.Context, tokenID string, oldPIN, newPIN []byte, confirmFinalTry bool) error
	UnlockPIN(ctx context.Context, tokenID string, soPIN, newPIN []byte, confirmFinalTry bool) error
}

// Readers is what the agent needs from the PC/SC watcher: its state, and a
// subscription to its changes, which Run holds while it runs
// (token.PCSCWatcher is one).
type Readers interface {
	State() token.ReaderState
	Subscribe(onChange func(token.ReaderState)) (cancel func())
}

// DefaultRenewBeforeDays is how many days before it expires a certificate
// is expiring, unless configured otherwise.
const DefaultRenewBeforeDays = 30

// Options configure an Agent.
type Options struct {
	Readers         Readers // nil: PC/SC is not watched
	Version         string
	RenewBeforeDays int            // a certificate with this many days left or fewer is expiring
	Media           []MediaProfile // first match wins
	Audit           Auditor        // nil: no audit log
	State           StateStore     // where the wrong-PIN throttle and pending renewals are kept; nil: in memory only
	Logger          *slog.Logger   // problems with the state; nil: discarded
	Now             func() time.Time
	PollInterval    time.Duration // how often Run lists the tokens; 0: DefaultPollInterval
}

// Agent carries out the protocol's methods.
type Agent struct {
	hw       Hardware
	opts     Options
	throttle *throttle
	renewals *renewals     // pending renewals (renewals.go)
	hub      *Hub          // events for subscribers (watch.go)
	poll     poller        // the last token listing, while anyone listens
	kick     chan struct{} // has Run list the tokens at once
	listen   chan struct{} // tells Run that someone subscribed

	tokenReads coalescer[[]Token]       // tokens.list
	certReads  coalescer[[]Certificate] // certs.list, by token id
}

// New returns an Agent over hw.
func New(hw Hardware, opts Options) *Agent {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Agent{hw: hw, opts: opts, throttle: newThrottle(opts.State, opts.Logger, opts.Now()),
		renewals: newRenewals(opts.State, opts.Logger), hub: NewHub(),
		kick: make(chan struct{}, 1), listen: make(chan struct{}, 1)}
}

// ModuleStatus is a configured PKCS#11 module and whether it loaded.
type ModuleStatus = token.ModuleStatus

// PCSCStatus is the state of the PC/SC subsystem.
type PCSCStatus struct {
	Available bool
	Readers   []string
	Err       string       // why PC/SC is unavailable
	Cards     []CardStatus // the cards present, explained (an extension)
}

// Info is the agent.info result.
type Info struct {
	Name     string
	Version  string
	Protocol int
	Modules  []ModuleStatus
	PCSC     PCSCStatus
}

// Info describes the agent, its modules and PC/SC.
func (a *Agent) Info(ctx context.Context) Info {
	return Info{
		Name:     Name,
		Version:  a.opts.Version,
		Protocol: Protocol,
		Modules:  a.hw.Modules(),
		PCSC:     a.pcscStatus(),
	}
}

func (a *Agent) pcscStatus() PCSCStatus {
	if a.opts.Readers == nil {
		return PCSCStatus{Err: "PC/SC is not watched"}
	}
	st := a.opts.Readers.State()
	out := PCSCStatus{Available: st.Available}
	if st.Err != nil {
		out.Err = st.Err.Error()
	}
	for _, r := range st.Readers {
		out.Readers = append(out.Readers, r.Name)
	}
	out.Cards = a.cardStatuses(st.Readers)
	return out
}

// PINState is a token's PIN flags and length rules.
type PINState = token.PINState

// Token is a token as pages see it.
type Token struct {
	ID           string
	Label        string
	Manufacturer string
	Model        string
	Serial       string
	Module       string
	Slot         uint
	Reader       string // the PC/SC reader holding the token; empty when unmatched
	ATR          string // lowercase hex; empty when unmatched
	PIN          PINState
	Media        *Media // nil when no profile matches
	ReadOnly     bool
}

// Tokens lists the tokens present.
// Concurrent callers share one listing (coalesce.go).
func (a *Agent) Tokens(ctx context.Context) ([]Token, error) {
	return a.tokenReads.do(ctx, "", a.listTokens)
}

func (a *Agent) listTokens(ctx context.Context) ([]Token, error) {
	if r, ok := a.hw.(refresher); ok {
		r.Refresh() // so that tokens other processes made are listed
	}
	infos, err := a.hw.Tokens(ctx)
	if err != nil {
		return nil, classify(err)
	}
	var readers []token.Reader
	if a.opts.Readers != nil {
		readers = a.opts.Readers.State().Readers
	}
	tokens := make([]Token, len(infos))
	for i, ti := range infos {
		tokens[i] = a.token(ti, readers)
	}
	return tokens, nil
}

// readerOf returns the reader holding the token in slot: modules that sit on
// PC/SC (OpenSC, most vendor modules) name the slot after the reader.
func readerOf(ti token.TokenInfo, readers []token.Reader) (token.Reader, bool) {
	slot := strings.ToLower(strings.TrimSpace(ti.SlotDescription))
	for _, r := range readers {
		name := strings.ToLower(r.Name)
		if r.Present && slot != "" && (strings.Contains(slot, name) || strings.Contains(name, slot)) {
			return r, true
		}
	}
	return token.Reader{}, false
}

func (a *Agent) token(ti token.TokenInfo, readers []token.Reader) Token {
	t := Token{
		ID:           ti.ID,
		Label:        ti.Label,
		Manufacturer: ti.Manufacturer,
		Model:        ti.Model,
		Serial:       ti.Serial,
		Module:       ti.Module,
		Slot:         ti.Slot,
		PIN:          ti.PIN,
		ReadOnly:     ti.ReadOnly,
	}
	if r, ok := readerOf(ti, readers); ok {
		t.Reader, t.ATR = r.Name, hex.EncodeToString(r.ATR)
	}
	if p := a.mediaProfile(&t); p != nil {
		t.Media = &Media{Profile: p.Name, Description: p.Description, Legacy: p.Legacy, UpgradeTo: p.UpgradeTo}
	}
	return t
}

// Certificate is a certificate on a token with what pages show of it.
type Certificate struct {
	ID           string
	Label        string
	Cert         *x509.Certificate
	SHA256       string // hex, of the DER
	KeyAlgorithm string // "RSA", "EC", "Ed25519", or the x509 name of another
	KeySize      int    // bits
	Curve        string // "P-256", …; empty for non-EC keys
	ParamSet     string // a GOST key's parameter set, "CryptoPro-A", …; empty for others
	KeyUsage     []string
	Lifetime     Lifetime
}

// Certificates lists the certificates on token tokenID. Concurrent callers
// for one token share one reading (coalesce.go).
func (a *Agent) Certificates(ctx context.Context, tokenID string) ([]Certificate, error) {
	return a.certReads.do(ctx, tokenID, func(ctx context.Context) ([]Certificate, error) {
		return a.listCertificates(ctx, tokenID)
	})
}

func (a *Agent) listCertificates(ctx context.Context, tokenID string) ([]Certificate, error) {
	certs, err := a.hw.Certificates(ctx, tokenID)
	if err != nil {
		return nil, classify(err)
	}
	now := a.opts.Now()
	out := make([]Certificate, len(certs))
	for i, c := range certs {
		out[i] = a.certificate(c, now)
	}
	return out, nil
}

func (a *Agent) certificate(c token.Certificate, now time.Time) Certificate {
	sum := sha256.Sum256(c.Cert.Raw)
	out := Certificate{
		ID:       c.ID,
		Label:    c.Label,
		Cert:     c.Cert,
		SHA256:   hex.EncodeToString(sum[:]),
		KeyUsage: keyUsageNames(c.Cert.KeyUsage),
		Lifetime: lifetimeAt(c.Cert.NotBefore, c.Cert.NotAfter, now, a.opts.RenewBeforeDays),
	}
	t := keyTypeOf(c.Cert.PublicKey, c.Cert.PublicKeyAlgorithm)
	out.KeyAlgorithm, out.KeySize, out.Curve, out.ParamSet = t.Algorithm, t.Size, t.Curve, t.ParamSet
	return out
}

// keyUsageNames lists key usage bits by their RFC 5280 names, in bit order.
func keyUsageNames(ku x509.KeyUsage) []string {
	names := []string{
		"digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
		"keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly",
	}
	out := []string{}
	for i, n := range names {
		if ku&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// CertificateLifetime is one certificate's entry in a LifetimeReport.
type CertificateLifetime struct {
	ID       string
	Subject  string
	NotAfter time.Time
	Lifetime Lifetime
}

// LifetimeReport is the lifetime.check result.
type LifetimeReport struct {
	Token            string
	Status           string // the worst LifetimeStatus, or "empty" without certificates
	RenewRecommended bool
	EarliestNotAfter time.Time // zero without certificates
	Certificates     []CertificateLifetime
}

// StatusEmpty is a LifetimeReport's status for a token without certificates.
const StatusEmpty = "empty"

// CheckLifetime reports how long the certificates on a token have left at
// at, or now when at is zero.
func (a *Agent) CheckLifetime(ctx context.Context, tokenID string, at time.Time) (LifetimeReport, error) {
	certs, err := a.hw.Certificates(ctx, tokenID)
	if err != nil {
		return LifetimeReport{}, classify(err)
	}
	if at.IsZero() {
		at = a.opts.Now()
	}
	r := LifetimeReport{Token: tokenID, Status: StatusEmpty, Certificates: []CertificateLifetime{}}
	worst := -1
	for _, c := range certs {
		lt := lifetimeAt(c.Cert.NotBefore, c.Cert.NotAfter, at, a.opts.RenewBeforeDays)
		r.Certificates = append(r.Certificates, CertificateLifetime{
			ID: c.ID, Subject: c.Cert.Subject.String(), NotAfter: c.Cert.NotAfter, Lifetime: lt,
		})
		if s := severity[lt.Status]; s > worst {
			worst, r.Status = s, string(lt.Status)
		}
		if r.EarliestNotAfter.IsZero() || c.Cert.NotAfter.Before(r.EarliestNotAfter) {
			r.EarliestNotAfter = c.Cert.NotAfter
		}
	}
	r.RenewRecommended = r.Status == string(StatusExpiring) || r.Status == string(StatusExpired)
	return r, nil
}
