package ws

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// NormalizeOrigin returns origin as scheme://host[:port]: scheme and host in
// lower case, an IPv6 host in its canonical form, and the port dropped when it
// is the scheme's default (80 for http, 443 for https). It refuses what is not
// a serialised origin: "null", a missing scheme or host, user info, a path
// other than "/", a query, a fragment, or a port outside 1–65535.
func NormalizeOrigin(origin string) (string, error) {
	if origin == "" || strings.EqualFold(origin, "null") {
		return "", fmt.Errorf("origin %q: opaque or empty origin", origin)
	}
	u, err := url.Parse(origin)
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", origin, err)
	}
	switch {
	case u.Scheme == "" || u.Opaque != "":
		return "", fmt.Errorf("origin %q: not scheme://host[:port]", origin)
	case u.User != nil:
		return "", fmt.Errorf("origin %q: has user info", origin)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return "", fmt.Errorf("origin %q: has a path, query or fragment", origin)
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("origin %q: no host", origin)
	}
	// Browsers send international names in their ASCII (punycode) form, so
	// any other byte can never match an Origin header.
	if strings.ContainsFunc(host, func(r rune) bool { return r >= 0x80 }) {
		return "", fmt.Errorf("origin %q: host not in ASCII (punycode) form", origin)
	}
	if strings.Contains(host, ":") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", fmt.Errorf("origin %q: bad IPv6 host", origin)
		}
		host = "[" + ip.String() + "]"
	}
	port := u.Port()
	if strings.HasSuffix(u.Host, ":") && port == "" {
		return "", fmt.Errorf("origin %q: empty port", origin)
	}
	if port == "" {
		return scheme + "://" + host, nil
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", fmt.Errorf("origin %q: bad port", origin)
	}
	if n == defaultPort[scheme] {
		return scheme + "://" + host, nil
	}
	return scheme + "://" + host + ":" + strconv.FormatUint(n, 10), nil
}

// defaultPort is the port an origin leaves out for its scheme.
var defaultPort = map[string]uint64{"http": 80, "https": 443}

// loopbackNames are the host names a request to the agent may carry: what
// a browser puts in Host for the agent's own addresses.
var loopbackNames = []string{"127.0.0.1", "localhost", "[::1]"}

// hostAllowed reports whether a request's Host header names the agent on
// port: 127.0.0.1, localhost or [::1], with that port. A Host without a port
// is accepted only when port is the scheme's default, since browsers leave
// the default port out. Anything else is refused, so that a DNS name
// rebound to 127.0.0.1 cannot reach the agent.
func hostAllowed(hostHeader, port, scheme string) bool {
	if hostHeader == "" || port == "" {
		return false
	}
	name, p, err := net.SplitHostPort(hostHeader)
	switch {
	case err == nil && strings.Contains(name, ":"):
		name = "[" + name + "]" // SplitHostPort strips the brackets
	case err != nil:
		var ae *net.AddrError
		if !errors.As(err, &ae) || ae.Err != "missing port in address" {
			return false
		}
		name, p = hostHeader, strconv.FormatUint(defaultPort[scheme], 10)
	}
	if p != port {
		return false
	}
	name = strings.ToLower(name)
	for _, n := range loopbackNames {
		if name == n {
			return true
		}
	}
	return false
}

// ownOrigins are the origins of the agent's own pages on port.
func ownOrigins(port, scheme string) []string {
	out := make([]string, 0, len(loopbackNames))
	for _, n := range loopbackNames {
		o, err := NormalizeOrigin(scheme + "://" + n + ":" + port)
		if err == nil {
			out = append(out, o)
		}
	}
	return out
}

// originAllowed checks a handshake's Origin header: none is a local program
// (allowed per AllowNoOrigin); otherwise the normalised origin must be
// allowed or the agent's own. It returns the normalised origin.
func (s *Server) originAllowed(r *http.Request) (origin string, ok bool) {
	values := r.Header.Values("Origin")
	if len(values) == 0 {
		return "", s.cfg.AllowNoOrigin
	}
	if len(values) > 1 {
		return "", false
	}
	origin, err := NormalizeOrigin(values[0])
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	own := s.own[origin]
	s.mu.Unlock()
	return origin, own || s.allowed[origin]
}

// checkOrigin is the upgrader's CheckOrigin: the same check as originAllowed.
func (s *Server) checkOrigin(r *http.Request) bool {
	_, ok := s.originAllowed(r)
	return ok
}
