package ws

// This file bounds the open connections (PROTOCOL.md section 1, handshake
// check 3). Every connection takes a place among MaxConnections; one
// origin takes at most MaxConnectionsPerOrigin of them (local programs
// count as one origin, and the agent's own origins as one); and some
// places are kept for the agent's own page and for local programs, which
// no other origin can take. So one origin, or all web origins together,
// cannot lock the person out of the self-service page or a local program.
// (A hostile local program can forge any Origin and take any class's
// places: the limits guard against pages, not against programs the
// person runs.)

// connClass is what a connection is to the limits.
type connClass uint8

const (
	webClass   connClass = iota // a page on an allowed origin
	ownClass                    // the agent's own page
	localClass                  // a local program (no Origin)
	classCount
)

// ownKey is the per-origin key of the agent's own origins: no normalised
// origin can be it.
const ownKey = "own"

// reservedConnections is how many places are kept for each of the agent's
// own page and local programs (fewer when MaxConnections is small).
const reservedConnections = 8

// place is one connection's share of the limits.
type place struct {
	key   string // the origin the per-origin limit counts: "" for local programs, ownKey for the agent's own
	class connClass
}

// placeFor returns the place a connection from origin (normalised; "" for
// none) takes.
func (s *Server) placeFor(origin string) place {
	switch {
	case origin == "":
		return place{key: "", class: localClass}
	case s.isOwn(origin):
		return place{key: ownKey, class: ownClass}
	}
	return place{key: origin, class: webClass}
}

// reserved is how many places are kept for each of the own page and local
// programs.
func (s *Server) reserved() int {
	return min(reservedConnections, s.cfg.MaxConnections/4)
}

// refusal says why a connection of p cannot have a place now, or "" when it
// can. s.mu must be held.
func (s *Server) refusal(p place) string {
	switch {
	case s.closing:
		return "agent shutting down"
	case s.perOrigin[p.key] >= s.cfg.MaxConnectionsPerOrigin:
		return "too many connections from this origin"
	}
	// The places kept for the other classes, less what they use.
	kept := 0
	for _, other := range []connClass{ownClass, localClass} {
		if other != p.class {
			kept += max(0, s.reserved()-s.byClass[other])
		}
	}
	if s.active+1+kept > s.cfg.MaxConnections {
		return "too many connections"
	}
	return ""
}

// reserve takes a place for a connection of p; it returns why not when it
// cannot.
func (s *Server) reserve(p place) (refused string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if refused = s.refusal(p); refused == "" {
		s.active++
		s.byClass[p.class]++
		s.perOrigin[p.key]++
	}
	return refused
}

// release gives back a place taken with reserve.
func (s *Server) release(p place) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	s.byClass[p.class]--
	if s.perOrigin[p.key]--; s.perOrigin[p.key] == 0 {
		delete(s.perOrigin, p.key)
	}
}

// busy reports whether a connection of p would be refused now for want of
// a place (/healthz tells a page so, since its browser keeps the
// handshake's 503 from it).
func (s *Server) busy(p place) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closing && s.refusal(p) != ""
}
