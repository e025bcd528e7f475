package token

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ebfe/scard"
)

// pnpReader is the pseudo-reader whose state changes when a reader is added
// or removed.
const pnpReader = `\\?PnP?\Notification`

// The watcher's timing. Variables, so tests could shorten them.
var (
	pcscBackoffMin   = 250 * time.Millisecond
	pcscBackoffMax   = 5 * time.Second
	pcscPollInterval = time.Second     // reader-list polling without PnP notification
	pcscCloseTimeout = 5 * time.Second // Close gives up waiting after this
	pcscRecancel     = 50 * time.Millisecond
)

// ErrPCSCUnavailable matches (with errors.Is) the errors saying that the PC/SC
// service is not running or went away.
var ErrPCSCUnavailable = errors.New("pc/sc service not available")

// PCSCError is a PC/SC return code from function Func, e.g.
// "SCardGetStatusChange: SCARD_E_NO_SERVICE". It unwraps to the raw
// scard.Error.
type PCSCError struct {
	Func string
	Code scard.Error
}

func (e *PCSCError) Error() string {
	return e.Func + ": " + pcscCodeName(e.Code)
}

func (e *PCSCError) Unwrap() error { return e.Code }

// Is makes errors.Is(err, ErrPCSCUnavailable) true for the codes meaning the
// service is gone.
func (e *PCSCError) Is(target error) bool {
	return target == ErrPCSCUnavailable && pcscServiceGone(e.Code)
}

// pcscServiceGone tells the codes meaning that the service (or our
// connection to it) is gone, as opposed to a reader or card problem.
// pcsc-lite reports a connection that pcscd reset as SCARD_W_SECURITY_VIOLATION:
// seen here when pcscd was killed; its polkit check refusing a client looks
// the same.
func pcscServiceGone(code scard.Error) bool {
	switch code {
	case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrCommError,
		scard.ErrInvalidHandle, scard.ErrShutdown, scard.ErrSecurityViolation:
		return true
	}
	return false
}

var pcscCodeNames = map[scard.Error]string{
	scard.ErrInternalError:      "SCARD_F_INTERNAL_ERROR",
	scard.ErrCancelled:          "SCARD_E_CANCELLED",
	scard.ErrInvalidHandle:      "SCARD_E_INVALID_HANDLE",
	scard.ErrInvalidParameter:   "SCARD_E_INVALID_PARAMETER",
	scard.ErrInvalidValue:       "SCARD_E_INVALID_VALUE",
	scard.ErrNoMemory:           "SCARD_E_NO_MEMORY",
	scard.ErrInsufficientBuffer: "SCARD_E_INSUFFICIENT_BUFFER",
	scard.ErrUnknownReader:      "SCARD_E_UNKNOWN_READER",
	scard.ErrTimeout:            "SCARD_E_TIMEOUT",
	scard.ErrSystemCancelled:    "SCARD_E_SYSTEM_CANCELLED",
	scard.ErrCommError:          "SCARD_F_COMM_ERROR",
	scard.ErrUnknownError:       "SCARD_F_UNKNOWN_ERROR",
	scard.ErrReaderUnavailable:  "SCARD_E_READER_UNAVAILABLE",
	scard.ErrShutdown:           "SCARD_P_SHUTDOWN",
	scard.ErrNoService:          "SCARD_E_NO_SERVICE",
	scard.ErrServiceStopped:     "SCARD_E_SERVICE_STOPPED",
	scard.ErrUnexpected:         "SCARD_E_UNEXPECTED",
	scard.ErrNoReadersAvailable: "SCARD_E_NO_READERS_AVAILABLE",
	scard.ErrServerTooBusy:      "SCARD_E_SERVER_TOO_BUSY",
	scard.ErrUnsupportedCard:    "SCARD_W_UNSUPPORTED_CARD",
	scard.ErrUnresponsiveCard:   "SCARD_W_UNRESPONSIVE_CARD",
	scard.ErrUnpoweredCard:      "SCARD_W_UNPOWERED_CARD",
	scard.ErrResetCard:          "SCARD_W_RESET_CARD",
	scard.ErrRemovedCard:        "SCARD_W_REMOVED_CARD",
	scard.ErrSecurityViolation:  "SCARD_W_SECURITY_VIOLATION",
}

// pcscCodeName returns the SCARD_ name of a PC/SC return code, or its hex
// value when the code is not one the watcher meets.
func pcscCodeName(code scard.Error) string {
	if name, ok := pcscCodeNames[code]; ok {
		return name
	}
	return fmt.Sprintf("0x%08X", uint32(code))
}

// pcscError wraps a return code from fn; errors that are not return codes
// pass through.
func pcscError(fn string, err error) error {
	var code scard.Error
	if errors.As(err, &code) {
		return &PCSCError{Func: fn, Code: code}
	}
	return err
}

// Reader is a PC/SC reader and the card in it.
type Reader struct {
	Name    string
	Present bool   // a card is in the reader
	ATR     []byte // the card's answer to reset; nil when no card (or a mute one)
}

// ReaderState is what a PCSCWatcher last saw.
type ReaderState struct {
	Available bool     // the PC/SC service answers
	Err       error    // why it is not available; nil when it is
	Readers   []Reader // sorted by name; nil when not available
}

// clone returns a deep copy, so that no caller shares the watcher's slices.
func (s ReaderState) clone() ReaderState {
	if s.Readers != nil {
		rs := make([]Reader, len(s.Readers))
		for i, r := range s.Readers {
			r.ATR = bytes.Clone(r.ATR)
			rs[i] = r
		}
		s.Readers = rs
	}
	return s
}

func (s ReaderState) equal(o ReaderState) bool {
	if s.Available != o.Available || len(s.Readers) != len(o.Readers) {
		return false
	}
	for i := range s.Readers {
		a, b := s.Readers[i], o.Readers[i]
		if a.Name != b.Name || a.Present != b.Present || !bytes.Equal(a.ATR, b.ATR) {
			return false
		}
	}
	return true
}

// PCSCWatcher follows the PC/SC readers and the cards in them. Create it with
// WatchPCSC and stop it with Close.
type PCSCWatcher struct {
	log      *slog.Logger
	onChange func(ReaderState)

	quiet     bool          // set during WatchPCSC's own scan: no onChange for it
	closing   chan struct{} // closed by Close
	done      chan struct{} // closed when the goroutine has returned
	closeOnce sync.Once

	ctxMu sync.Mutex     // guards ctx, so Close never cancels a released context
	ctx   *scard.Context // the current context; nil when there is none

	stateMu sync.Mutex
	state   ReaderState

	subsMu sync.Mutex // held while subscribers are called
	subs   map[*subscriber]struct{}
}

// subscriber is one Subscribe call's function.
type subscriber struct{ fn func(ReaderState) }

// pcscSession is one established context and the reader states followed in
// it, the PnP pseudo-reader first when pnp is set. Each state's UserData holds
// the *Reader it last showed (nil until then, and for readers gone).
type pcscSession struct {
	ctx    *scard.Context
	pnp    bool
	states []scard.ReaderState
}

// WatchPCSC starts following the PC/SC readers. It scans once before it
// returns, so State is current at once, then follows changes in a goroutine
// and calls onChange (when not nil) with the new state whenever the reader
// list, a card's presence or ATR, or the service's availability changes.
// onChange is called from that goroutine only, never concurrently, and never
// after Close has returned nil; it should return quickly, and must not call
// Close. It gets its own copy of the state.
//
// A missing or stopped PC/SC service is not an error: the watcher reports it
// in State and keeps trying to reach the service.
func WatchPCSC(log *slog.Logger, onChange func(ReaderState)) *PCSCWatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if onChange == nil {
		onChange = func(ReaderState) {}
	}
	w := &PCSCWatcher{
		log:      log,
		onChange: onChange,
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.quiet = true
	s, err := w.connect()
	if err != nil {
		w.setUnavailable(err)
	}
	w.quiet = false
	go w.run(s)
	return w
}

// State returns what the watcher last saw. It is safe for concurrent use.
func (w *PCSCWatcher) State() ReaderState {
	w.stateMu.Lock()
	defer w.stateMu.Unlock()
	return w.state.clone()
}

// Close stops the watcher: it cancels the blocked SCardGetStatusChange and
// waits for the goroutine to release its context and return. It fails only
// when the goroutine is still blocked after 5 s (a hung PC/SC service), and
// leaves it behind then. Calling Close again is harmless: after a successful
// Close it returns nil at once.
func (w *PCSCWatcher) Close() error {
	w.closeOnce.Do(func() { close(w.closing) })
	deadline := time.NewTimer(pcscCloseTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pcscRecancel)
	defer tick.Stop()
	for {
		// A cancel sent just before the goroutine blocks is lost, so send
		// another until the goroutine is gone.
		w.cancel()
		select {
		case <-w.done:
			return nil
		case <-tick.C:
		case <-deadline.C:
			return fmt.Errorf("closing pc/sc watcher: still blocked after %v", pcscCloseTimeout)
		}
	}
}

func (w *PCSCWatcher) cancel() {
	w.ctxMu.Lock()
	defer w.ctxMu.Unlock()
	if w.ctx == nil {
		return
	}
	if err := w.ctx.Cancel(); err != nil {
		w.log.Debug("pc/sc cancel failed", "err", pcscError("SCardCancel", err))
	}
}

func (w *PCSCWatcher) isClosing() bool {
	select {
	case <-w.closing:
		return true
	default:
		return false
	}
}

// sleep waits for d, or less when the watcher is closed, and tells whether
// the watcher goes on.
func (w *PCSCWatcher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.closing:
		return false
	case <-t.C:
		return true
	}
}

// run follows sessions until Close, re-establishing the context with backoff
// whenever the service goes away. s is the session WatchPCSC established, or
// nil.
func (w *PCSCWatcher) run(s *pcscSession) {
	defer close(w.done)
	backoff := pcscBackoffMin
	for {
		if s == nil {
			if !w.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, pcscBackoffMax)
			var err error
			s, err = w.connect()
			if err != nil {
				w.log.Debug("pc/sc still not available", "err", err, "retry_in", backoff)
				w.setUnavailable(err)
				continue
			}
		}
		started := time.Now()
		err := w.follow(s)
		w.release(s)
		s = nil
		if err == nil || w.isClosing() {
			return
		}
		w.setUnavailable(w.explain(err))
		// Only a session that stayed up for a while resets the backoff:
		// one failing at once must not spin.
		if time.Since(started) >= pcscBackoffMax {
			backoff = pcscBackoffMin
		}
	}
}

// explain returns the error to report for a session that failed with err.
// When err is not one of the codes saying that the service is gone but a new
// context cannot be established either, that error says better why the
// service is unavailable.
func (w *PCSCWatcher) explain(err error) error {
	if errors.Is(err, ErrPCSCUnavailable) {
		return err
	}
	w.log.Debug("pc/sc session failed", "err", err)
	ctx, cerr := scard.EstablishContext()
	if cerr != nil {
		return fmt.Errorf("establishing pc/sc context: %w", pcscError("SCardEstablishContext", cerr))
	}
	_ = ctx.Release() // only a probe; run reconnects after its backoff
	return err
}

// connect establishes a context and reads the readers' states, which it
// publishes.
func (w *PCSCWatcher) connect() (*pcscSession, error) {
	ctx, err := scard.EstablishContext()
	if err != nil {
		return nil, fmt.Errorf("establishing pc/sc context: %w", pcscError("SCardEstablishContext", err))
	}
	w.ctxMu.Lock()
	w.ctx = ctx
	w.ctxMu.Unlock()
	s := &pcscSession{ctx: ctx, pnp: pcscHasPnP}
	if err := w.relist(s); err != nil {
		w.release(s)
		return nil, err
	}
	if err := w.poll(s, 0); err != nil {
		w.release(s)
		return nil, err
	}
	return s, nil
}

// release drops the session's context. Close never cancels it afterwards.
func (w *PCSCWatcher) release(s *pcscSession) {
	w.ctxMu.Lock()
	defer w.ctxMu.Unlock()
	if w.ctx == s.ctx {
		w.ctx = nil
	}
	if err := s.ctx.Release(); err != nil {
		// Expected when the service went away with the context.
		w.log.Debug("releasing pc/sc context", "err", pcscError("SCardReleaseContext", err))
	}
}

// relist reads the reader list and rebuilds the session's states, keeping
// what is known of readers still there.
func (w *PCSCWatcher) relist(s *pcscSession) error {
	names, err := s.ctx.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		names, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("listing pc/sc readers: %w", pcscError("SCardListReaders", err))
	}
	old := make(map[string]scard.ReaderState, len(s.states))
	for _, st := range s.states {
		old[st.Reader] = st
	}
	states := make([]scard.ReaderState, 0, len(names)+1)
	if s.pnp {
		pnp, ok := old[pnpReader]
		if !ok {
			pnp = scard.ReaderState{Reader: pnpReader, CurrentState: scard.StateUnaware}
		}
		states = append(states, pnp)
	}
	for _, name := range names {
		if name == pnpReader {
			continue
		}
		st, ok := old[name]
		if !ok {
			st = scard.ReaderState{Reader: name, CurrentState: scard.StateUnaware}
		}
		states = append(states, st)
	}
	s.states = states
	return nil
}

// poll waits up to timeout (negative: without limit) for a change of the
// session's reader states and publishes what it then knows. It returns the
// error of SCardGetStatusChange, wrapped, except for a timeout.
func (w *PCSCWatcher) poll(s *pcscSession, timeout time.Duration) error {
	for i := range s.states {
		s.states[i].EventState = 0
		// scard keeps the ATR given when the service reports none.
		s.states[i].Atr = nil
	}
	err := s.ctx.GetStatusChange(s.states, timeout)
	switch {
	case errors.Is(err, scard.ErrTimeout):
		// Nothing changed; still publish, the reader list may have.
	case err != nil:
		return fmt.Errorf("waiting for pc/sc reader changes: %w", pcscError("SCardGetStatusChange", err))
	default:
		for i := range s.states {
			st := &s.states[i]
			st.CurrentState = st.EventState &^ scard.StateChanged
			st.UserData = readerFromState(st)
		}
	}
	w.setAvailable(s)
	return nil
}

// readerFromState returns the Reader an SCardGetStatusChange result shows,
// or nil for the PnP pseudo-reader and for readers the service no longer
// knows.
func readerFromState(st *scard.ReaderState) *Reader {
	ev := st.EventState
	if st.Reader == pnpReader || ev&(scard.StateUnknown|scard.StateIgnore) != 0 {
		return nil
	}
	// A removed card's ATR can linger in the state (scard keeps the previous
	// one when the service reports none, and some services report it): only
	// the state flags tell whether a card is there.
	present := ev&scard.StatePresent != 0 && ev&scard.StateEmpty == 0
	r := &Reader{Name: st.Reader, Present: present}
	if present && len(st.Atr) > 0 {
		r.ATR = bytes.Clone(st.Atr)
	}
	return r
}

// follow blocks in SCardGetStatusChange and publishes each change, until
// Close (nil) or an error that needs a new context.
func (w *PCSCWatcher) follow(s *pcscSession) error {
	var readerErrs int // consecutive reader errors, to keep them from spinning
	for {
		if w.isClosing() {
			return nil
		}
		if len(s.states) == 0 {
			// Only without PnP notification (the pseudo-reader is always
			// there otherwise): nothing to wait on, so poll the list.
			if !w.sleep(pcscPollInterval) {
				return nil
			}
			if err := w.relist(s); err != nil {
				return err
			}
			if err := w.poll(s, 0); err != nil {
				return err
			}
			continue
		}
		timeout := time.Duration(-1) // INFINITE
		if !s.pnp {
			timeout = pcscPollInterval
		}
		relist := !s.pnp
		err := w.poll(s, timeout)
		var pe *PCSCError
		switch {
		case err == nil:
			readerErrs = 0
		case errors.As(err, &pe) && pe.Code == scard.ErrCancelled:
			continue // Close, or someone else: the loop checks
		case errors.As(err, &pe) && (pe.Code == scard.ErrUnknownReader ||
			pe.Code == scard.ErrReaderUnavailable):
			// A reader went away between listing and waiting.
			readerErrs++
			if readerErrs > 3 && !w.sleep(pcscBackoffMin) {
				return nil
			}
			relist = true
		default:
			return err
		}
		if s.pnp && s.states[0].EventState&scard.StateUnknown != 0 {
			// The service does not know the PnP pseudo-reader: waiting on
			// it would return at once, forever. Poll the list instead.
			w.log.Debug("pc/sc service has no reader notification; polling the reader list")
			s.pnp = false
			s.states = s.states[1:]
			relist = true
		}
		for _, st := range s.states {
			if st.Reader == pnpReader && st.EventState&scard.StateChanged != 0 ||
				st.EventState&(scard.StateUnknown|scard.StateIgnore) != 0 {
				relist = true
			}
		}
		if relist {
			if err := w.relist(s); err != nil {
				return err
			}
			if err := w.poll(s, 0); err != nil {
				return err
			}
		}
	}
}

// readers returns the session's readers, sorted by name.
func (s *pcscSession) readers() []Reader {
	readers := make([]Reader, 0, len(s.states))
	for _, st := range s.states {
		if r, ok := st.UserData.(*Reader); ok && r != nil {
			readers = append(readers, *r)
		}
	}
	slices.SortFunc(readers, func(a, b Reader) int { return strings.Compare(a.Name, b.Name) })
	return readers
}

// setAvailable publishes the session's readers.
func (w *PCSCWatcher) setAvailable(s *pcscSession) {
	next := ReaderState{Available: true, Readers: s.readers()}
	w.stateMu.Lock()
	prev := w.state
	changed := !prev.equal(next)
	if changed {
		w.state = next
	}
	w.stateMu.Unlock()
	if !changed {
		return
	}
	if !prev.Available && prev.Err != nil {
		w.log.Info("pc/sc service available again", "readers", len(next.Readers))
	}
	w.log.Debug("pc/sc readers changed", "readers", readerSummary(next.Readers))
	w.notify(next)
}

// setUnavailable publishes that the service is not available, because of
// err. It warns and notifies once per outage; the error of an outage is the
// first one seen.
func (w *PCSCWatcher) setUnavailable(err error) {
	w.stateMu.Lock()
	prev := w.state
	outage := prev.Available || prev.Err == nil
	if outage {
		w.state = ReaderState{Err: err}
	}
	w.stateMu.Unlock()
	if !outage {
		return
	}
	w.log.Warn("pc/sc service not available; retrying", "err", err)
	w.notify(ReaderState{Err: err})
}

func (w *PCSCWatcher) notify(s ReaderState) {
	if w.quiet || w.isClosing() {
		return
	}
	w.onChange(s.clone())
	w.subsMu.Lock()
	defer w.subsMu.Unlock()
	for sub := range w.subs {
		sub.fn(s.clone())
	}
}

// Subscribe has fn called with the new state on every change from now on,
// as WatchPCSC's onChange is, until cancel is called; fn is not called
// once cancel has returned. fn runs on the watcher's goroutine and must
// return quickly, and must not call Subscribe, cancel or Close. It is safe
// for concurrent use.
func (w *PCSCWatcher) Subscribe(fn func(ReaderState)) (cancel func()) {
	sub := &subscriber{fn: fn}
	w.subsMu.Lock()
	defer w.subsMu.Unlock()
	if w.subs == nil {
		w.subs = map[*subscriber]struct{}{}
	}
	w.subs[sub] = struct{}{}
	return func() {
		w.subsMu.Lock()
		defer w.subsMu.Unlock()
		delete(w.subs, sub)
	}
}

// readerSummary formats readers for a log line: name=atr, or name=empty.
func readerSummary(readers []Reader) string {
	parts := make([]string, len(readers))
	for i, r := range readers {
		switch {
		case r.ATR != nil:
			parts[i] = fmt.Sprintf("%s=%x", r.Name, r.ATR)
		case r.Present:
			parts[i] = r.Name + "=present"
		default:
			parts[i] = r.Name + "=empty"
		}
	}
	return strings.Join(parts, ", ")
}
