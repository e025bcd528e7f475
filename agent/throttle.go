package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"time"
)

// The wrong-PIN throttle (PROTOCOL.md section 5). PINs are of two kinds,
// the user's and the security officer's, counted apart: a right user PIN
// never resets the SO PIN's count, and the SO PIN's throttle never closes
// pin.unlock because of the user's wrong PINs.
//
//   - Per origin: after maxWrongPINs consecutive wrong PINs of one kind for
//     one token from one origin, that origin's calls of that kind on that
//     token are refused for throttlePeriod. A right PIN of that kind from
//     that origin resets its count.
//   - Per token (the ceiling): once ceilingWrongPINs wrong PINs of one kind
//     for one token, from all origins together, fall within ceilingWindow,
//     every call of that kind on that token is refused until the oldest of
//     them leaves the window. Right PINs do not lift it. So neither many
//     allowed origins nor a local program forging Origin headers multiply
//     the budget.
const (
	maxWrongPINs     = 3
	throttlePeriod   = 60 * time.Second
	ceilingWrongPINs = 5
	ceilingWindow    = 10 * time.Minute
)

// throttleFile is the throttle's file in the state directory.
const throttleFile = "throttle.json"

// StateStore keeps what the agent must remember across restarts and
// crashes: whole small files by name (internal/state.Dir is one).
type StateStore interface {
	ReadFile(name string) ([]byte, error) // an error satisfying errors.Is(err, fs.ErrNotExist) for none
	WriteFile(name string, data []byte) error
}

// pinKind is the kind of PIN a call tries.
type pinKind uint8

const (
	userPIN pinKind = iota
	soPIN
)

func (k pinKind) String() string {
	if k == soPIN {
		return "so"
	}
	return "user"
}

// throttleKey is what the ceiling counts, and what takes turns: one kind
// of PIN on one token.
type throttleKey struct {
	token string
	kind  pinKind
}

// originKey is what the per-origin count counts.
type originKey struct {
	throttleKey
	origin string
}

// originCount is one origin's consecutive wrong PINs and the end of its
// wait, when it waits.
type originCount struct {
	wrong int
	until time.Time
}

// throttleTurn lets one PIN-taking call per token and kind run at a time.
type throttleTurn struct {
	held  chan struct{} // holds a value while a call has the turn
	users int           // calls holding or waiting for the turn
}

// throttle counts wrong PINs per origin and per token, and keeps the
// counts in the state directory, so that they survive a restart or a
// crash: a wrong PIN is saved before its call answers. It is safe for
// concurrent use.
//
// A call checks the counts, tries the PIN and counts the outcome while it
// holds the turn of its kind of PIN on the token (enter). Without the
// turn, concurrent calls would all pass the check before the first wrong
// PIN is counted, and a page firing a hundred calls at once (or a hundred
// origins one call each) would make a hundred login attempts and lock a
// real token. The token layer serialises logins on a token anyway, so the
// turn costs no concurrency.
type throttle struct {
	store StateStore // nil: counts live in memory only
	log   *slog.Logger

	mu      sync.Mutex
	origins map[originKey]*originCount
	ceiling map[throttleKey][]time.Time // wrong PINs within ceilingWindow, oldest first
	turns   map[throttleKey]*throttleTurn

	saveMu sync.Mutex // one save at a time, each of the state as it is then
}

func newThrottle(store StateStore, log *slog.Logger, now time.Time) *throttle {
	t := &throttle{store: store, log: log, origins: map[originKey]*originCount{},
		ceiling: map[throttleKey][]time.Time{}, turns: map[throttleKey]*throttleTurn{}}
	t.load(now)
	return t
}

// enter waits until no other call of kind on token is in progress, or ctx
// ends. On success the caller has the turn until it calls leave.
func (t *throttle) enter(ctx context.Context, k throttleKey) (leave func(), err error) {
	t.mu.Lock()
	turn, ok := t.turns[k]
	if !ok {
		turn = &throttleTurn{held: make(chan struct{}, 1)}
		t.turns[k] = turn
	}
	turn.users++
	t.mu.Unlock()

	done := func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if turn.users--; turn.users == 0 {
			delete(t.turns, k)
		}
	}
	select {
	case turn.held <- struct{}{}:
		return func() { <-turn.held; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// throttleScope says which limit refuses a call.
type throttleScope uint8

const (
	notThrottled throttleScope = iota
	originThrottled
	tokenThrottled // the ceiling
)

// blocked returns how long calls of k from origin must still wait, and
// which limit makes them; zero when they may go ahead. A wait is never
// longer than its limit's period, whatever the clock did since it began.
func (t *throttle) blocked(k throttleKey, origin string, now time.Time) (time.Duration, throttleScope) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ts := t.ceiling[k]; len(ts) >= ceilingWrongPINs {
		if wait := min(ts[len(ts)-ceilingWrongPINs].Add(ceilingWindow).Sub(now), ceilingWindow); wait > 0 {
			return wait, tokenThrottled
		}
	}
	if c, ok := t.origins[originKey{k, origin}]; ok && now.Before(c.until) {
		return min(c.until.Sub(now), throttlePeriod), originThrottled
	}
	return 0, notThrottled
}

// wrongPIN counts a wrong PIN of k from origin, starts the origin's wait at
// its limit, and saves the counts.
func (t *throttle) wrongPIN(k throttleKey, origin string, now time.Time) {
	t.mu.Lock()
	ok := originKey{k, origin}
	c := t.origins[ok]
	if c == nil {
		c = &originCount{}
		t.origins[ok] = c
	}
	if c.wrong++; c.wrong >= maxWrongPINs {
		c.wrong, c.until = 0, now.Add(throttlePeriod)
	}
	t.ceiling[k] = recent(append(t.ceiling[k], now), now)
	t.mu.Unlock()
	t.save(now)
}

// rightPIN resets origin's count of k, and saves the counts when that
// changed them.
func (t *throttle) rightPIN(k throttleKey, origin string, now time.Time) {
	t.mu.Lock()
	ok := originKey{k, origin}
	_, had := t.origins[ok]
	delete(t.origins, ok)
	t.mu.Unlock()
	if had {
		t.save(now)
	}
}

// recent returns the times of ts within ceilingWindow of now, at most the
// last ceilingWrongPINs of them: the oldest of those says when the
// ceiling lifts, and anything older no longer counts.
func recent(ts []time.Time, now time.Time) []time.Time {
	i := max(0, len(ts)-ceilingWrongPINs)
	for i < len(ts) && !ts[i].After(now.Add(-ceilingWindow)) {
		i++
	}
	return append([]time.Time(nil), ts[i:]...)
}

// throttleState is the throttle's file: what still counts.
type throttleState struct {
	Origins []originState `json:"origins"`
	Tokens  []tokenState  `json:"tokens"`
}

type originState struct {
	Token  string    `json:"token"`
	PIN    string    `json:"pin"` // "user" or "so"
	Origin string    `json:"origin"`
	Wrong  int       `json:"wrong"`
	Until  time.Time `json:"until,omitzero"`
}

type tokenState struct {
	Token string      `json:"token"`
	PIN   string      `json:"pin"`
	Wrong []time.Time `json:"wrong"` // within the ceiling's window, oldest first
}

// save writes the counts that still matter at now. A failure is logged:
// the counts hold in memory meanwhile.
func (t *throttle) save(now time.Time) {
	if t.store == nil {
		return
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	st := throttleState{Origins: []originState{}, Tokens: []tokenState{}}
	for k, c := range t.origins {
		if c.wrong == 0 && !now.Before(c.until) {
			delete(t.origins, k) // its wait is over and nothing counts
			continue
		}
		st.Origins = append(st.Origins, originState{Token: k.token, PIN: k.kind.String(), Origin: k.origin, Wrong: c.wrong, Until: c.until})
	}
	for k, ts := range t.ceiling {
		if ts = recent(ts, now); len(ts) == 0 {
			delete(t.ceiling, k)
			continue
		}
		st.Tokens = append(st.Tokens, tokenState{Token: k.token, PIN: k.kind.String(), Wrong: ts})
	}
	t.mu.Unlock()
	data, err := json.Marshal(st)
	if err == nil {
		err = t.store.WriteFile(throttleFile, data)
	}
	if err != nil {
		t.log.Error("saving the wrong-PIN throttle; it holds until the agent stops", "err", err)
	}
}

// load reads the counts saved by an earlier run.
func (t *throttle) load(now time.Time) {
	if t.store == nil {
		return
	}
	data, err := t.store.ReadFile(throttleFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var st throttleState
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil {
		t.log.Warn("the saved wrong-PIN throttle cannot be read; starting without it", "err", err)
		return
	}
	kinds := map[string]pinKind{"user": userPIN, "so": soPIN}
	for _, o := range st.Origins {
		if kind, ok := kinds[o.PIN]; ok {
			t.origins[originKey{throttleKey{o.Token, kind}, o.Origin}] = &originCount{wrong: o.Wrong, until: o.Until}
		}
	}
	for _, tk := range st.Tokens {
		if kind, ok := kinds[tk.PIN]; ok {
			// A time ahead of now (the clock went back) counts as now.
			ts := make([]time.Time, len(tk.Wrong))
			for i, w := range tk.Wrong {
				if ts[i] = w; w.After(now) {
					ts[i] = now
				}
			}
			t.ceiling[throttleKey{tk.Token, kind}] = recent(ts, now)
		}
	}
}
