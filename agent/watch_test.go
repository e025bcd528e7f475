package agent

import (
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokenagent/tokenagent/token"
)

// fakeHW lists the tokens a test sets; it counts refreshes.
type fakeHW struct {
	Hardware // the other methods are not called
	mu       sync.Mutex
	tokens   []token.TokenInfo
	refresh  int // Refresh calls
	lists    int // Tokens calls
}

func (f *fakeHW) Modules() []token.ModuleStatus { return nil }

func (f *fakeHW) Tokens(context.Context) ([]token.TokenInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	return append([]token.TokenInfo(nil), f.tokens...), nil
}

func (f *fakeHW) Refresh() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh++
}

func (f *fakeHW) counts() (lists, refreshes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists, f.refresh
}

func (f *fakeHW) set(tokens ...token.TokenInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = tokens
}

func TestDiffTokens(t *testing.T) {
	media := &Media{Profile: "p"}
	a := Token{ID: "a", Label: "a"}
	b := Token{ID: "b", Label: "b", Media: media}
	bLocked := b
	bLocked.PIN.Locked = true
	bMedia := b
	bMedia.Media = &Media{Profile: "p"} // equal, another pointer
	c := Token{ID: "c"}
	tests := []struct {
		name                    string
		prev, next              []Token
		added, removed, changed string // ids, comma-separated
	}{
		{"same", []Token{a, b}, []Token{a, bMedia}, "", "", ""},
		{"added", []Token{a}, []Token{a, c, b}, "b,c", "", ""},
		{"removed", []Token{a, b, c}, []Token{b}, "", "a,c", ""},
		{"pin flag", []Token{a, b}, []Token{a, bLocked}, "", "", "b"},
		{"all", []Token{a, b}, []Token{bLocked, c}, "c", "a", "b"},
	}
	byID := func(ts []Token) map[string]Token {
		m := map[string]Token{}
		for _, t := range ts {
			m[t.ID] = t
		}
		return m
	}
	ids := func(ts []Token) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.ID)
		}
		return strings.Join(s, ",")
	}
	for _, tt := range tests {
		ev, changed := diffTokens(byID(tt.prev), byID(tt.next))
		got := [3]string{ids(ev.Added), strings.Join(ev.Removed, ","), ids(ev.Changed)}
		if want := [3]string{tt.added, tt.removed, tt.changed}; got != want || changed != (want != [3]string{}) {
			t.Errorf("%s: added/removed/changed %q (%v), want %q", tt.name, got, changed, want)
		}
		if ev.Added == nil || ev.Removed == nil || ev.Changed == nil {
			t.Errorf("%s: nil slices in %+v", tt.name, ev)
		}
	}
}

func waitEvent(t *testing.T, s *Subscription) Event {
	t.Helper()
	select {
	case ev, ok := <-s.Events():
		if !ok {
			t.Fatal("subscription ended")
		}
		return ev
	case <-time.After(2 * time.Second):
		t.Fatal("no event within 2 s")
	}
	return Event{}
}

// TestRunPollsAndKicks runs the watcher with a long poll interval: changes
// show up only on a ReadersChanged kick, and the readers event comes first.
func TestRunPollsAndKicks(t *testing.T) {
	synctest.Test(t, runPollsAndKicks)
}

func runPollsAndKicks(t *testing.T) {
	hw := &fakeHW{}
	hw.set(token.TokenInfo{ID: "a", Label: "a"})
	a := New(hw, Options{PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	sub := a.Subscribe(ctx, 0, nil)
	// The first subscriber has the baseline listed, refreshed first.
	if lists, refreshes := hw.counts(); lists != 1 || refreshes != 1 {
		t.Fatalf("Subscribe listed %d and refreshed %d times, want 1 and 1", lists, refreshes)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
	}()
	hw.set(token.TokenInfo{ID: "b", Label: "b"})
	atr := []byte{0x3b, 0x95, 0x13}
	a.ReadersChanged(token.ReaderState{Available: true, Readers: []token.Reader{
		{Name: "r0", Present: true, ATR: atr}, {Name: "r1"},
	}})
	ev := waitEvent(t, sub)
	r := ev.Readers
	if r == nil || len(r.Readers) != 2 || r.Cards[0] != (Card{Reader: "r0", Present: true, ATR: hex.EncodeToString(atr)}) ||
		r.Cards[1] != (Card{Reader: "r1"}) {
		t.Fatalf("first event %+v, want readers.changed for r0 and r1", ev)
	}
	ev = waitEvent(t, sub)
	if tc := ev.Tokens; tc == nil || len(tc.Added) != 1 || tc.Added[0].ID != "b" || len(tc.Removed) != 1 || tc.Removed[0] != "a" {
		t.Fatalf("second event %+v, want b added and a removed", ev)
	}
	cancel()
	<-done
	if _, ok := <-sub.Events(); ok {
		t.Error("subscription open after Run returned")
	}
}

// TestRunIdlesWithoutSubscribers checks that nobody listening means no
// listing, and that a subscriber coming later hears nothing of what changed
// before it came. Its time is the bubble's: the polls it waits for pass at
// once.
func TestRunIdlesWithoutSubscribers(t *testing.T) {
	synctest.Test(t, runIdlesWithoutSubscribers)
}

func runIdlesWithoutSubscribers(t *testing.T) {
	hw := &fakeHW{}
	hw.set(token.TokenInfo{ID: "a", Label: "a"})
	a := New(hw, Options{PollInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // fifty polls, were anyone listening
	synctest.Wait()
	if lists, _ := hw.counts(); lists != 0 {
		t.Fatalf("Run listed the tokens %d times with nobody subscribed", lists)
	}

	sub := a.Subscribe(ctx, 0, nil)
	hw.set(token.TokenInfo{ID: "b", Label: "b"})
	if ev := waitEvent(t, sub); ev.Tokens == nil || len(ev.Tokens.Added) != 1 || ev.Tokens.Added[0].ID != "b" {
		t.Fatalf("event %+v, want b added", ev)
	}
	sub.Close()
	time.Sleep(20 * time.Millisecond) // a poll or more with nobody listening
	synctest.Wait()
	lists, _ := hw.counts()
	time.Sleep(50 * time.Millisecond)
	synctest.Wait()
	if later, _ := hw.counts(); later != lists {
		t.Fatalf("Run listed %d times after the last subscriber left", later-lists)
	}

	hw.set(token.TokenInfo{ID: "c", Label: "c"}) // while nobody listens
	sub = a.Subscribe(ctx, 0, nil)
	defer sub.Close()
	hw.set(token.TokenInfo{ID: "c", Label: "c"}, token.TokenInfo{ID: "d", Label: "d"})
	ev := waitEvent(t, sub)
	if tc := ev.Tokens; tc == nil || len(tc.Added) != 1 || tc.Added[0].ID != "d" || len(tc.Removed) != 0 {
		t.Fatalf("event %+v, want only d added: c and b's removal came before the subscriber", ev)
	}
}

func TestCardStatuses(t *testing.T) {
	a := New(&fakeHW{}, Options{})
	rutoken, _ := hex.DecodeString("3b8b015275746f6b656e20454350a0")
	got := a.cardStatuses([]token.Reader{
		{Name: "empty"},
		{Name: "unknown", Present: true, ATR: []byte{0x3b, 0x00}},
		{Name: "rutoken", Present: true, ATR: rutoken},
	})
	if len(got) != 2 {
		t.Fatalf("cardStatuses = %+v, want the two present cards", got)
	}
	if got[0].Reader != "unknown" || got[0].Vendor != "" || got[0].Note == "" {
		t.Errorf("unknown card: %+v", got[0])
	}
	r := got[1]
	if r.Vendor != "Rutoken" || r.Card == "" || r.ModuleLoaded {
		t.Errorf("Rutoken card: %+v", r)
	}
	if _, installed := token.KnownModulePath("Rutoken"); installed != r.ModuleInstalled {
		t.Errorf("Rutoken card: installed %v, want %v", r.ModuleInstalled, installed)
	}
	if !r.ModuleInstalled && !strings.Contains(r.Note, "not installed") {
		t.Errorf("Rutoken card note %q: want it to say the module is not installed", r.Note)
	}
}

// loaderHW is fakeHW that can load modules.
type loaderHW struct {
	fakeHW
	loads []string
}

func (l *loaderHW) AddModule(path string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loads = append(l.loads, path)
	return true, nil
}

func (l *loaderHW) Modules() []token.ModuleStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []token.ModuleStatus
	for _, p := range l.loads {
		out = append(out, token.ModuleStatus{Path: p})
	}
	return out
}

type fixedReaders token.ReaderState

func (f fixedReaders) State() token.ReaderState { return token.ReaderState(f) }

// Subscribe never calls onChange: the state is fixed.
func (f fixedReaders) Subscribe(func(token.ReaderState)) func() { return func() {} }

// TestLoadCardModules pretends the Rutoken module is installed: a Rutoken
// in a reader has it loaded, once.
func TestLoadCardModules(t *testing.T) {
	installed := t.TempDir() + "/librtpkcs11ecp.so"
	old := knownModulePath
	knownModulePath = func(vendor string) (string, bool) { return installed, vendor == "Rutoken" }
	t.Cleanup(func() { knownModulePath = old })

	rutoken, _ := hex.DecodeString("3b8b015275746f6b656e20454350a0")
	hw := &loaderHW{}
	a := New(hw, Options{Readers: fixedReaders{Available: true, Readers: []token.Reader{
		{Name: "r0", Present: true, ATR: rutoken},
		{Name: "r1", Present: true, ATR: []byte{0x3b, 0x00}},
	}}})
	before := a.cardStatuses(a.opts.Readers.State().Readers)
	if before[0].ModuleLoaded || !before[0].ModuleInstalled || !strings.Contains(before[0].Note, installed) {
		t.Errorf("before loading: %+v", before[0])
	}
	tried := map[string]bool{}
	a.loadCardModules(tried)
	a.loadCardModules(tried)
	if len(hw.loads) != 1 || hw.loads[0] != installed {
		t.Fatalf("loads %v, want %s once", hw.loads, installed)
	}
	after := a.cardStatuses(a.opts.Readers.State().Readers)
	if !after[0].ModuleLoaded || after[0].Note != "" || after[0].Module != installed {
		t.Errorf("after loading: %+v", after[0])
	}
}
