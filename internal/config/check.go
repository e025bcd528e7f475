package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tokenagent/tokenagent/ws"
)

// CheckListenAddr checks a listen address: host:port with a numeric port
// (0 means any free port) and an IP address, a host name or nothing (every
// interface) as the host.
func CheckListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid listen address %q: want host:port", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("invalid listen address %q: port must be a number from 0 to 65535", addr)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if !validHostName(host) {
		return fmt.Errorf("invalid listen address %q: bad host %q", addr, host)
	}
	return nil
}

// listenIsLoopback reports whether addr's host is a loopback address
// (127.0.0.0/8, ::1) or localhost.
func listenIsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// validHostName reports whether h looks like a DNS name: dot-separated
// labels of ASCII letters, digits, '-' and '_'.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// NormalizeOrigin is ws.NormalizeOrigin, the server's own normalisation,
// so that the file's origins compare equal to what browsers send, limited
// to the web schemes a page can have.
func NormalizeOrigin(s string) (string, error) {
	o, err := ws.NormalizeOrigin(s)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
		return "", fmt.Errorf("origin %q: scheme must be http or https", s)
	}
	return o, nil
}
