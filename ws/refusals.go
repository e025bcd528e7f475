package ws

import (
	"net/http"
	"sync"
	"time"
)

// Any page can make thousands of refused requests a second, so refusals
// are logged at Info at most refusalBurst times per refusalWindow; the rest
// go to Debug, and the next Info line says how many were held back.
const (
	refusalBurst  = 20
	refusalWindow = time.Minute
)

// refusalLimiter decides which refusals are logged at Info. It is safe for
// concurrent use.
type refusalLimiter struct {
	mu      sync.Mutex
	start   time.Time // of the current window
	logged  int       // at Info in the current window
	skipped int       // not at Info since the last Info line
}

// allow tells whether a refusal at now is logged at Info, and if so how
// many refusals before it were not.
func (l *refusalLimiter) allow(now time.Time) (ok bool, skipped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= refusalWindow {
		l.start, l.logged = now, 0
	}
	if l.logged >= refusalBurst {
		l.skipped++
		return false, 0
	}
	l.logged++
	skipped, l.skipped = l.skipped, 0
	return true, skipped
}

// refuse logs a refused request and answers it with status.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	attrs := []any{"reason", reason, "status", status,
		"path", r.URL.Path, "host", r.Host, "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr}
	if ok, skipped := s.refusals.allow(time.Now()); ok {
		if skipped > 0 {
			attrs = append(attrs, "notLoggedBefore", skipped)
		}
		s.log.Info("request refused", attrs...)
	} else {
		s.log.Debug("request refused", attrs...)
	}
	http.Error(w, reason, status)
}
