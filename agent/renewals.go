package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tokenagent/tokenagent/token"
)

// renewalsFile is the pending renewals' file in the state directory.
const renewalsFile = "renewals.json"

// Bounds on the pending renewals kept, so that a page starting renewal
// after renewal cannot grow the file without end (PROTOCOL.md,
// renewal.pending).
const (
	maxRenewalsPerToken = 16
	maxRenewals         = 256
	renewalMaxAge       = 400 * 24 * time.Hour
)

// PendingRenewal is a renewal started by PrepareRenewal and not yet
// completed or cancelled: a CA may take days to issue the certificate.
type PendingRenewal struct {
	Token     string    `json:"token"`
	Key       string    `json:"key"`  // the key to certify
	Cert      string    `json:"cert"` // the certificate renewed
	CSR       []byte    `json:"csr"`  // DER
	CreatedAt time.Time `json:"createdAt"`
}

// renewals owns the pending renewals and their file. Each change is saved
// before the call that made it answers; a failure to save is logged, and
// the records hold in memory meanwhile.
type renewals struct {
	store StateStore // nil: in memory only
	log   *slog.Logger

	mu      sync.Mutex
	records []PendingRenewal // oldest first
}

// newRenewals reads the records an earlier run saved; an unreadable file
// is logged and ignored.
func newRenewals(store StateStore, log *slog.Logger) *renewals {
	r := &renewals{store: store, log: log}
	if store == nil {
		return r
	}
	data, err := store.ReadFile(renewalsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return r
	}
	if err == nil {
		err = json.Unmarshal(data, &r.records)
	}
	if err != nil {
		r.records = nil
		log.Warn("the saved pending renewals cannot be read; starting without them", "err", err)
	}
	return r
}

// add records rec, replacing a record of the same token and key, and drops
// the oldest past the bounds.
func (r *renewals) add(rec PendingRenewal) {
	r.change(func(recs []PendingRenewal) []PendingRenewal {
		recs = slices.DeleteFunc(recs, func(p PendingRenewal) bool { return p.Token == rec.Token && p.Key == rec.Key })
		recs = append(recs, rec)
		perToken := 0
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].Token != rec.Token {
				continue
			}
			if perToken++; perToken > maxRenewalsPerToken {
				recs = slices.Delete(recs, i, i+1)
			}
		}
		if len(recs) > maxRenewals {
			recs = slices.Delete(recs, 0, len(recs)-maxRenewals)
		}
		return recs
	})
}

// remove drops the record of the token's key.
func (r *renewals) remove(tokenID, keyID string) {
	r.change(func(recs []PendingRenewal) []PendingRenewal {
		return slices.DeleteFunc(recs, func(p PendingRenewal) bool { return p.Token == tokenID && p.Key == keyID })
	})
}

// keep drops the token's records whose key is not among keys, the keys a
// listing of the token saw.
func (r *renewals) keep(tokenID string, keys []token.PrivateKey) {
	r.change(func(recs []PendingRenewal) []PendingRenewal {
		return slices.DeleteFunc(recs, func(p PendingRenewal) bool {
			return p.Token == tokenID && !slices.ContainsFunc(keys, func(k token.PrivateKey) bool { return k.ID == p.Key })
		})
	})
}

// of returns the token's records at now, oldest first, dropping those past
// their age.
func (r *renewals) of(tokenID string, now time.Time) []PendingRenewal {
	r.change(func(recs []PendingRenewal) []PendingRenewal {
		return slices.DeleteFunc(recs, func(p PendingRenewal) bool { return now.Sub(p.CreatedAt) > renewalMaxAge })
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []PendingRenewal{}
	for _, p := range r.records {
		if p.Token == tokenID {
			out = append(out, p)
		}
	}
	return out
}

// change applies edit to the records and saves them if they changed.
func (r *renewals) change(edit func([]PendingRenewal) []PendingRenewal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs := edit(slices.Clone(r.records))
	if slices.EqualFunc(recs, r.records, samePending) {
		return
	}
	r.records = recs
	if r.store == nil {
		return
	}
	data, err := json.Marshal(recs)
	if err == nil {
		err = r.store.WriteFile(renewalsFile, data)
	}
	if err != nil {
		r.log.Error("saving the pending renewals; they hold until the agent stops", "err", err)
	}
}

func samePending(a, b PendingRenewal) bool {
	return a.Token == b.Token && a.Key == b.Key && a.Cert == b.Cert && a.CreatedAt.Equal(b.CreatedAt) && string(a.CSR) == string(b.CSR)
}

// PendingRenewals lists the renewals started on token tokenID and not yet
// completed or cancelled, oldest first, after dropping those whose key is
// no longer on the token (as a listing without a login sees it). The
// token's objects are read only when it has records: a page asks at every
// listing, and most tokens have none.
func (a *Agent) PendingRenewals(ctx context.Context, tokenID string) ([]PendingRenewal, error) {
	if len(a.renewals.of(tokenID, a.opts.Now())) == 0 {
		tokens, err := a.Tokens(ctx)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(tokens, func(t Token) bool { return t.ID == tokenID }) {
			return nil, Errorf(TokenNotFound, "no token with id %s", tokenID)
		}
		return []PendingRenewal{}, nil
	}
	if _, err := a.Keys(ctx, tokenID); err != nil {
		return nil, err
	}
	return a.renewals.of(tokenID, a.opts.Now()), nil
}

// CancelRenewal discards the renewal that made key keyID: it deletes the
// key pair unless a certificate on the token is bound to it, and the
// record, and returns how many objects it deleted. A key already gone
// deletes nothing and is no error.
func (a *Agent) CancelRenewal(ctx context.Context, call Call, keyID string) (int, error) {
	var deleted int
	p := a.attempt(ctx, call)
	p.writes = true
	p.rec.Object = keyID
	p.shown.Object, p.shown.Delete = keyID, DeleteKey
	err := p.run(func() error {
		return p.login(func(s *token.Session) error {
			var err error
			deleted, err = discardKey(s, keyID)
			if err == nil {
				a.renewals.remove(call.Token, keyID)
			}
			return err
		})
	})
	return deleted, err
}

// discardKey deletes key pair keyID unless a certificate is bound to it,
// and returns how many objects went; a key already gone is no error.
func discardKey(s *token.Session, keyID string) (int, error) {
	key, err := s.PrivateKey(keyID)
	if errors.Is(err, token.ErrObjectNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	certs, err := s.Certificates()
	if err != nil {
		return 0, err
	}
	if slices.ContainsFunc(certs, key.BoundTo) {
		return 0, nil
	}
	return s.DeleteKey(keyID)
}
