package agent

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/token"
)

// TestRenewalsBounds checks what the pending renewals keep: one record per
// token and key, at most maxRenewalsPerToken per token and maxRenewals in
// all (the oldest going), none older than renewalMaxAge, and the records
// of keys a listing no longer sees dropped; every change is saved, and an
// agent reading the file sees the same.
func TestRenewalsBounds(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	rec := func(tok string, n int, age time.Duration) PendingRenewal {
		return PendingRenewal{Token: tok, Key: fmt.Sprintf("k%03d", n), Cert: "c", CSR: []byte{byte(n)}, CreatedAt: now.Add(-age)}
	}
	keys := func(recs []PendingRenewal) string {
		var out []string
		for _, r := range recs {
			out = append(out, r.Key)
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name  string
		fill  func(r *renewals)
		token string
		want  string
	}{
		{"a second record of a key replaces the first", func(r *renewals) {
			r.add(rec("t", 1, time.Hour))
			r.add(rec("t", 2, time.Hour))
			r.add(rec("t", 1, 0))
		}, "t", "k002 k001"},
		{"per token", func(r *renewals) {
			for n := range maxRenewalsPerToken + 3 {
				r.add(rec("t", n, 0))
				r.add(rec("u", n, 0))
			}
		}, "t", "k003 k004 k005 k006 k007 k008 k009 k010 k011 k012 k013 k014 k015 k016 k017 k018"},
		{"in all", func(r *renewals) {
			for n := range maxRenewals + 1 {
				r.add(rec(fmt.Sprintf("t%d", n%(maxRenewals/maxRenewalsPerToken+1)), n, 0))
			}
		}, "t0", "k017 k034 k051 k068 k085 k102 k119 k136 k153 k170 k187 k204 k221 k238 k255"},
		{"too old", func(r *renewals) {
			r.add(rec("t", 1, renewalMaxAge+time.Second))
			r.add(rec("t", 2, renewalMaxAge))
		}, "t", "k002"},
		{"keys gone", func(r *renewals) {
			r.add(rec("t", 1, 0))
			r.add(rec("t", 2, 0))
			r.add(rec("u", 1, 0))
			r.keep("t", []token.PrivateKey{{ID: "k002"}})
		}, "t", "k002"},
		{"the other token's keys stay", func(r *renewals) {
			r.add(rec("t", 1, 0))
			r.add(rec("u", 1, 0))
			r.keep("t", nil)
		}, "u", "k001"},
		{"removed", func(r *renewals) {
			r.add(rec("t", 1, 0))
			r.add(rec("t", 2, 0))
			r.remove("t", "k001")
			r.remove("u", "k002")
		}, "t", "k002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &memStore{}
			r := newRenewals(store, slog.New(slog.DiscardHandler))
			tt.fill(r)
			if got := keys(r.of(tt.token, now)); got != tt.want {
				t.Errorf("records %q, want %q", got, tt.want)
			}
			again := newRenewals(store, slog.New(slog.DiscardHandler))
			if got := keys(again.of(tt.token, now)); got != tt.want {
				t.Errorf("records read back %q, want %q", got, tt.want)
			}
			if n := len(again.records); n > maxRenewals {
				t.Errorf("%d records kept", n)
			}
		})
	}
}

// TestRenewalsUnreadable starts without records when the file cannot be
// read, and says so.
func TestRenewalsUnreadable(t *testing.T) {
	store := &memStore{}
	if err := store.WriteFile(renewalsFile, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	r := newRenewals(store, slog.New(slog.NewTextHandler(&logs, nil)))
	if got := r.of("t", time.Now()); len(got) != 0 {
		t.Errorf("records %v from an unreadable file", got)
	}
	if !strings.Contains(logs.String(), "pending renewals cannot be read") {
		t.Errorf("log %q does not say the file was unreadable", logs.String())
	}
}
