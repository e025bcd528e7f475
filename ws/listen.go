package ws

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
)

// The agent's own origins are exactly the addresses it listens on
// (PROTOCOL.md section 1): a browser at http://localhost:PORT/ may reach
// 127.0.0.1 or [::1], so an agent on 127.0.0.1 alone would let any local
// process serving [::1]:PORT pose as the agent's own page. Listen
// therefore takes both addresses of loopback, and Serve counts as its own
// only the origins whose every address it holds.

// Listener is what Listen returns: one socket, or the two of loopback
// (127.0.0.1 and [::1] at one port) as one net.Listener.
type Listener struct {
	lns      []net.Listener
	accepted chan accepted
	done     chan struct{}
	close    sync.Once
	// Missing says why only one address of loopback is listened on (IPv6
	// is off, or another process holds the port there); nil when both
	// are, or when the address asked for is not loopback's.
	Missing error
}

type accepted struct {
	c   net.Conn
	err error
}

// loopbackTries is how often Listen picks a new port, for port 0, when the
// one it got on 127.0.0.1 is taken on [::1].
const loopbackTries = 8

// Listen listens on addr (host:port) for Serve. For a loopback host
// (127.0.0.1, localhost or [::1]) it listens on both 127.0.0.1 and [::1]
// at the port, and when the second cannot be had it serves the first
// alone and says why in Missing; then localhost and the other address are
// not the agent's own origins. Any other host is listened on as it is.
func Listen(addr string) (*Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	first, second := "", ""
	switch strings.ToLower(host) {
	case "127.0.0.1", "localhost":
		first, second = "127.0.0.1", "::1"
	case "::1":
		first, second = "::1", "127.0.0.1"
	default:
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return newListener(nil, ln), nil
	}
	for try := 1; ; try++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(first, port))
		if err != nil {
			return nil, err
		}
		_, got, _ := net.SplitHostPort(ln.Addr().String())
		other, err := net.Listen("tcp", net.JoinHostPort(second, got))
		switch {
		case err == nil:
			return newListener(nil, ln, other), nil
		case port == "0" && try < loopbackTries && !errors.Is(err, syscall.EADDRNOTAVAIL):
			// Another process has that port on the other address: pick
			// another. (No address, when IPv6 is off, no port mends.)
			ln.Close()
			continue
		}
		return newListener(fmt.Errorf("not listening on %s: %w", net.JoinHostPort(second, got), err), ln), nil
	}
}

func newListener(missing error, lns ...net.Listener) *Listener {
	l := &Listener{lns: lns, accepted: make(chan accepted), done: make(chan struct{}), Missing: missing}
	for _, ln := range lns {
		go l.acceptLoop(ln)
	}
	return l
}

// acceptLoop hands ln's connections to Accept until ln fails or closes.
func (l *Listener) acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		select {
		case l.accepted <- accepted{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			return
		}
	}
}

// Accept waits for a connection on any of the addresses.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case a := <-l.accepted:
		return a.c, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes every address.
func (l *Listener) Close() error {
	var errs []error
	l.close.Do(func() {
		close(l.done)
		for _, ln := range l.lns {
			errs = append(errs, ln.Close())
		}
	})
	return errors.Join(errs...)
}

// Addr is the first address listened on; its port is the agent's.
func (l *Listener) Addr() net.Addr { return l.lns[0].Addr() }

// Addrs are the addresses listened on.
func (l *Listener) Addrs() []net.Addr {
	out := make([]net.Addr, len(l.lns))
	for i, ln := range l.lns {
		out[i] = ln.Addr()
	}
	return out
}

// ownHosts returns the hosts of the agent's own origins for the addresses
// it listens on: 127.0.0.1 when it has IPv4 loopback, [::1] when it has
// IPv6 loopback, and localhost only when it has both, since a browser may
// take localhost to either. An unspecified address (0.0.0.0, [::]) holds
// the loopback of its family; Go listens on [::] for both families.
func ownHosts(addrs []net.Addr) []string {
	var v4, v6 bool
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			continue
		}
		switch ip := ap.Addr().Unmap(); {
		case ip == netip.MustParseAddr("127.0.0.1"), ip == netip.IPv4Unspecified():
			v4 = true
		case ip == netip.IPv6Loopback():
			v6 = true
		case ip == netip.IPv6Unspecified():
			v4, v6 = true, true
		}
	}
	var hosts []string
	if v4 {
		hosts = append(hosts, "127.0.0.1")
	}
	if v4 && v6 {
		hosts = append(hosts, "localhost")
	}
	if v6 {
		hosts = append(hosts, "[::1]")
	}
	return hosts
}
