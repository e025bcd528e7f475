package ws

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		in   string
		want string // empty: refused
	}{
		{"https://ca.example.com", "https://ca.example.com"},
		{"https://ca.example.com/", "https://ca.example.com"},
		{"HTTPS://CA.Example.COM", "https://ca.example.com"},
		{"https://ca.example.com:443", "https://ca.example.com"},
		{"http://ca.example.com:80", "http://ca.example.com"},
		{"http://ca.example.com:443", "http://ca.example.com:443"},
		{"https://ca.example.com:80", "https://ca.example.com:80"},
		{"https://ca.example.com:8443", "https://ca.example.com:8443"},
		{"https://ca.example.com:08443", "https://ca.example.com:8443"},
		{"http://127.0.0.1:24321", "http://127.0.0.1:24321"},
		{"http://localhost:24321", "http://localhost:24321"},
		{"http://[::1]:24321", "http://[::1]:24321"},
		{"http://[0:0:0:0:0:0:0:1]:24321", "http://[::1]:24321"},
		{"http://[::1]", "http://[::1]"},
		{"http://[::1]:80", "http://[::1]"},
		{"http://[2001:DB8::1]", "http://[2001:db8::1]"},
		{"chrome-extension://abcdefghijklmnop", "chrome-extension://abcdefghijklmnop"},

		{"", ""},
		{"null", ""},
		{"NULL", ""},
		{"ca.example.com", ""},
		{"//ca.example.com", ""},
		{"https://", ""},
		{"https://ca.example.com/path", ""},
		{"https://ca.example.com?q=1", ""},
		{"https://ca.example.com/?", ""},
		{"https://ca.example.com#frag", ""},
		{"https://user@ca.example.com", ""},
		{"https://user:pw@ca.example.com", ""},
		{"https://ca.example.com:", ""},
		{"https://ca.example.com:0", ""},
		{"https://ca.example.com:65536", ""},
		{"https://ca.example.com:-1", ""},
		{"https://ca.example.com:http", ""},
		{"https://[fe80::1%25eth0]", ""},
		{"mailto:someone@example.com", ""},
		{"https://ca.example.com https://evil.example", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeOrigin(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("NormalizeOrigin(%q) = %q, want it refused", tt.in, got)
		case tt.want != "" && err != nil:
			t.Errorf("NormalizeOrigin(%q): %v, want %q", tt.in, err, tt.want)
		case got != tt.want:
			t.Errorf("NormalizeOrigin(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeOriginIsIdempotent(t *testing.T) {
	for _, in := range []string{"HTTPS://A.example:443", "http://[0::1]:8080", "http://x.example:80"} {
		once, err := NormalizeOrigin(in)
		if err != nil {
			t.Fatal(err)
		}
		if twice, err := NormalizeOrigin(once); err != nil || twice != once {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q again", once, twice, err, once)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	tests := []struct {
		host   string
		port   string
		scheme string
		want   bool
	}{
		{"127.0.0.1:24321", "24321", "http", true},
		{"localhost:24321", "24321", "http", true},
		{"LocalHost:24321", "24321", "http", true},
		{"[::1]:24321", "24321", "http", true},
		{"[::1]:24321", "24321", "https", true},

		{"127.0.0.1:24322", "24321", "http", false},
		{"127.0.0.1", "24321", "http", false},
		{"localhost", "24321", "http", false},
		{"127.0.0.1:", "24321", "http", false},
		{"127.0.0.1:024321", "24321", "http", false},
		{"evil.example:24321", "24321", "http", false},
		{"localhost.evil.example:24321", "24321", "http", false},
		{"127.0.0.2:24321", "24321", "http", false},
		{"0.0.0.0:24321", "24321", "http", false},
		{"192.168.1.10:24321", "24321", "http", false},
		{"[::ffff:127.0.0.1]:24321", "24321", "http", false},
		{"[0:0:0:0:0:0:0:1]:24321", "24321", "http", false},
		{"::1:24321", "24321", "http", false},
		{"localhost.:24321", "24321", "http", false},
		{"", "24321", "http", false},
		{"127.0.0.1:24321", "", "http", false},

		// Browsers leave out the scheme's default port.
		{"127.0.0.1", "80", "http", true},
		{"localhost", "443", "https", true},
		{"[::1]", "80", "http", true},
		{"127.0.0.1:80", "80", "http", true},
		{"127.0.0.1", "443", "http", false},
		{"127.0.0.1", "80", "https", false},
	}
	for _, tt := range tests {
		if got := hostAllowed(tt.host, tt.port, tt.scheme); got != tt.want {
			t.Errorf("hostAllowed(%q, port %s, %s) = %v, want %v", tt.host, tt.port, tt.scheme, got, tt.want)
		}
	}
}

func TestOwnOrigins(t *testing.T) {
	tcp := func(addrs ...string) []net.Addr {
		out := make([]net.Addr, len(addrs))
		for i, a := range addrs {
			out[i] = net.TCPAddrFromAddrPort(netip.MustParseAddrPort(a))
		}
		return out
	}
	tests := []struct {
		name  string
		addrs []net.Addr
		want  []string
	}{
		{"both addresses of loopback", tcp("127.0.0.1:24321", "[::1]:24321"), []string{"https://127.0.0.1:24321", "https://localhost:24321", "https://[::1]:24321"}},
		{"127.0.0.1 alone: localhost may be another's", tcp("127.0.0.1:24321"), []string{"https://127.0.0.1:24321"}},
		{"[::1] alone", tcp("[::1]:24321"), []string{"https://[::1]:24321"}},
		{"every IPv4 address", tcp("0.0.0.0:24321"), []string{"https://127.0.0.1:24321"}},
		{"every address", tcp("[::]:24321"), []string{"https://127.0.0.1:24321", "https://localhost:24321", "https://[::1]:24321"}},
		{"another loopback address", tcp("127.0.0.2:24321"), []string{}},
		{"a LAN address", tcp("192.168.1.10:24321"), []string{}},
	}
	for _, tt := range tests {
		if got := ownOrigins(ownHosts(tt.addrs), "24321", "https"); !slices.Equal(got, tt.want) {
			t.Errorf("%s: own origins %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := ownOrigins(ownHosts(tcp("127.0.0.1:80")), "80", "http"); !slices.Equal(got, []string{"http://127.0.0.1"}) {
		t.Errorf("own origins on port 80 = %v, want the default port dropped", got)
	}
}
