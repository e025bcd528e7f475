package doctor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestListeningProcess listens here and finds this process from /proc, by
// the address listened on and by the names that stand for it.
func TestListeningProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, addr := range []string{ln.Addr().String(), "localhost:" + port} {
		p, err := ListeningProcess(addr)
		if err != nil {
			t.Fatalf("ListeningProcess(%s): %v", addr, err)
		}
		wd, _ := os.Getwd()
		if p.PID != os.Getpid() || !slices.Equal(p.Args, os.Args) || p.Dir != wd {
			t.Errorf("ListeningProcess(%s) = %+v; want pid %d, args %q, dir %s", addr, p, os.Getpid(), os.Args, wd)
		}
	}

	// Nothing listens at the port once the listener is closed, and a
	// connection's socket is no listener.
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ListeningProcess(ln.Addr().String()); !errors.Is(err, ErrNotListening) {
		t.Errorf("after closing: %v, want ErrNotListening", err)
	}
	if _, err := ListeningProcess("127.0.0.1:http"); err == nil || errors.Is(err, ErrNotListening) {
		t.Errorf("a port by name: %v, want an error about the port", err)
	}
}

// TestListeningProcessIPv6 finds a listener on [::1] by its address and
// by localhost.
func TestListeningProcessIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, addr := range []string{ln.Addr().String(), "localhost:" + port} {
		if p, err := ListeningProcess(addr); err != nil || p.PID != os.Getpid() {
			t.Errorf("ListeningProcess(%s) = %+v, %v; want this process", addr, p, err)
		}
	}
}

// TestProcAddr decodes addresses as the kernel prints them: each 32-bit
// word of the address as a number in this machine's byte order.
func TestProcAddr(t *testing.T) {
	kernelHex := func(ip netip.Addr) string {
		b := ip.AsSlice()
		var s strings.Builder
		for i := 0; i < len(b); i += 4 {
			fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(b[i:]))
		}
		return s.String()
	}
	for _, want := range []string{"127.0.0.1:24321", "0.0.0.0:80", "[::1]:24321", "[::]:443", "[fe80::1:2:3]:65535"} {
		ap := netip.MustParseAddrPort(want)
		got, err := procAddr(fmt.Sprintf("%s:%04X", kernelHex(ap.Addr()), ap.Port()))
		if err != nil || got != ap {
			t.Errorf("procAddr of %s = %v, %v", want, got, err)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007F:GGGG", "01007F:5EE1", "zz00007F:5EE1"} {
		if got, err := procAddr(bad); err == nil {
			t.Errorf("procAddr(%q) = %v, want an error", bad, got)
		}
	}
}
