package agent

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tokenagent/tokenagent/token"
)

// DefaultPollInterval is how often Run lists the tokens when Options say
// nothing.
const DefaultPollInterval = time.Second

// moduleLoader is what hardware implements when it can load a module while
// running (token.Manager does).
type moduleLoader interface {
	AddModule(path string) (bool, error)
}

// knownModulePath finds where a vendor's module is installed; a variable so
// that tests can pretend one is.
var knownModulePath = token.KnownModulePath

// refresher is what hardware implements when some of its modules must be
// re-initialised to see tokens that other processes made or deleted
// (token.Manager does).
type refresher interface {
	Refresh()
}

// Subscribe adds an events subscriber with room for queue waiting events
// (DefaultEventQueue when queue <= 0). onDrop is called, from the
// publisher, when the subscriber falls that far behind and is dropped; it
// must return at once. Close the subscription when done.
//
// The tokens are polled only while someone listens, so a subscriber that
// finds nobody listening has the tokens listed first, as the baseline: it
// hears of every change after it subscribed and of none before.
func (a *Agent) Subscribe(ctx context.Context, queue int, onDrop func()) *Subscription {
	a.poll.Lock()
	defer a.poll.Unlock()
	if a.hub.Subscribers() == 0 {
		a.poll.prev, _ = a.snapshot(ctx)
	}
	sub := a.hub.Subscribe(queue, onDrop)
	select {
	case a.listen <- struct{}{}:
	default: // Run has been told already
	}
	return sub
}

// Run watches the tokens until ctx ends, then ends every subscription.
// While anyone is subscribed it lists the tokens every PollInterval, and at
// once after ReadersChanged, and publishes tokens.changed for what differs
// from the listing before. With nobody subscribed it lists nothing: an agent
// with no page open does no work, and tokens.list lists afresh anyway. Run
// it once.
//
// While it runs, Run subscribes ReadersChanged to Options.Readers; a change
// before then is covered by the first listing.
func (a *Agent) Run(ctx context.Context) {
	defer a.hub.Close()
	if a.opts.Readers != nil {
		defer a.opts.Readers.Subscribe(a.ReadersChanged)()
	}
	interval := a.opts.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	tried := map[string]bool{} // modules loadCardModules tried already
	a.loadCardModules(tried)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		// Not waiting on the ticker keeps it out of the runtime's timers,
		// so an agent nobody listens to is not woken at all.
		var ticks <-chan time.Time
		if a.hub.Subscribers() > 0 {
			ticks = tick.C
		}
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		case <-a.listen:
		case <-a.kick:
			a.loadCardModules(tried)
		}
		a.pollTokens(ctx)
	}
}

// poller is the token listing Run compares the next one with; nil when
// nobody listens.
type poller struct {
	sync.Mutex
	prev map[string]Token
}

// pollTokens lists the tokens and publishes what changed since the last
// listing, when anyone is subscribed.
func (a *Agent) pollTokens(ctx context.Context) {
	a.poll.Lock()
	defer a.poll.Unlock()
	if a.hub.Subscribers() == 0 {
		a.poll.prev = nil
		return
	}
	next, ok := a.snapshot(ctx)
	if !ok {
		return // keep the last listing; a failed one says nothing
	}
	if a.poll.prev != nil {
		if ev, changed := diffTokens(a.poll.prev, next); changed {
			a.hub.Publish(Event{Tokens: ev})
		}
	}
	a.poll.prev = next
}

// snapshot lists the tokens by id.
func (a *Agent) snapshot(ctx context.Context) (map[string]Token, bool) {
	tokens, err := a.Tokens(ctx)
	if err != nil {
		return nil, false
	}
	out := make(map[string]Token, len(tokens))
	for _, t := range tokens {
		out[t.ID] = t
	}
	return out, true
}

// diffTokens returns the tokens.changed event from listing prev to next.
func diffTokens(prev, next map[string]Token) (*TokensChanged, bool) {
	ev := &TokensChanged{Added: []Token{}, Removed: []string{}, Changed: []Token{}}
	for id, t := range next {
		old, ok := prev[id]
		switch {
		case !ok:
			ev.Added = append(ev.Added, t)
		case !sameToken(old, t):
			ev.Changed = append(ev.Changed, t)
		}
	}
	for id := range prev {
		if _, ok := next[id]; !ok {
			ev.Removed = append(ev.Removed, id)
		}
	}
	byID := func(a, b Token) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(ev.Added, byID)
	slices.SortFunc(ev.Changed, byID)
	slices.Sort(ev.Removed)
	return ev, len(ev.Added)+len(ev.Removed)+len(ev.Changed) > 0
}

// sameToken tells whether two listings of a token agree in every field.
func sameToken(a, b Token) bool {
	am, bm := a.Media, b.Media
	a.Media, b.Media = nil, nil
	if a != b {
		return false
	}
	if am == nil || bm == nil {
		return am == bm
	}
	return *am == *bm
}

// ReadersChanged is what Run subscribes to the PC/SC watcher: it publishes
// readers.changed and has Run list the tokens at once. It returns at once.
func (a *Agent) ReadersChanged(st token.ReaderState) {
	a.hub.Publish(Event{Readers: readersChanged(st)})
	select {
	case a.kick <- struct{}{}:
	default: // a listing is due already
	}
}

func readersChanged(st token.ReaderState) *ReadersChanged {
	ev := &ReadersChanged{Readers: []string{}, Cards: []Card{}}
	for _, r := range st.Readers {
		ev.Readers = append(ev.Readers, r.Name)
		ev.Cards = append(ev.Cards, Card{Reader: r.Name, Present: r.Present, ATR: hex.EncodeToString(r.ATR)})
	}
	return ev
}

// CardStatus is what the agent can tell of a card present in a reader: an
// agent.info extension explaining why a card shows no token.
type CardStatus struct {
	Reader          string
	ATR             string // lowercase hex; empty for a mute card
	Card            string // the catalogue's name for it; empty when unknown
	Vendor          string // empty when unknown
	Module          string // the module's path when installed, else its file name; empty when unknown
	ModuleInstalled bool
	ModuleLoaded    bool
	Note            string // for people; empty when there is nothing to say
}

// cardStatuses explains the cards present in readers.
func (a *Agent) cardStatuses(readers []token.Reader) []CardStatus {
	var loaded []string
	for _, m := range a.hw.Modules() {
		if m.Err == nil {
			loaded = append(loaded, m.Path)
		}
	}
	var out []CardStatus
	for _, r := range readers {
		if !r.Present {
			continue
		}
		cs := CardStatus{Reader: r.Name, ATR: hex.EncodeToString(r.ATR)}
		kind, ok := token.IdentifyCard(r.ATR)
		if !ok {
			cs.Note = "card not in the built-in catalogue"
			out = append(out, cs)
			continue
		}
		cs.Card, cs.Vendor, cs.Module = kind.Name, kind.Vendor, kind.Module
		if path, ok := knownModulePath(kind.Vendor); ok {
			cs.Module, cs.ModuleInstalled = path, true
			cs.ModuleLoaded = sameModule(path, loaded)
		}
		switch {
		case !cs.ModuleInstalled:
			cs.Note = "module for this card not installed: install " + kind.Module + " (" + kind.Name + " PKCS#11 library)"
		case !cs.ModuleLoaded:
			cs.Note = "module for this card installed at " + cs.Module + " but not loaded: see modules for its error"
		}
		out = append(out, cs)
	}
	return out
}

// sameModule tells whether path is one of loaded, after resolving links.
func sameModule(path string, loaded []string) bool {
	resolve := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return p
	}
	want := resolve(path)
	for _, l := range loaded {
		if resolve(l) == want {
			return true
		}
	}
	return false
}

// Subscribers returns how many events subscribers the agent has.
func (a *Agent) Subscribers() int { return a.hub.Subscribers() }

// loadCardModules loads, into hardware that can, the installed module of
// each card present whose module is not loaded: a card plugged in after the
// agent started, of a vendor the configuration did not name. Each module is
// tried once; one that fails to load shows in agent.info with its error.
func (a *Agent) loadCardModules(tried map[string]bool) {
	l, ok := a.hw.(moduleLoader)
	if !ok || a.opts.Readers == nil {
		return
	}
	for _, cs := range a.cardStatuses(a.opts.Readers.State().Readers) {
		if !cs.ModuleInstalled || cs.ModuleLoaded || tried[cs.Module] {
			continue
		}
		tried[cs.Module] = true
		_, _ = l.AddModule(cs.Module)
	}
}
