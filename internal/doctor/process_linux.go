package doctor

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot is where Linux shows its processes and sockets.
const procRoot = "/proc"

// ListeningProcess finds the process listening on TCP at addr (host:port;
// localhost and an unspecified host stand for the loopback addresses) in
// /proc: the listening sockets in net/tcp and net/tcp6, then the process
// holding one of them among those whose descriptors this user may read
// (its own; every one for root). It returns ErrNotListening when no socket
// listens there.
func ListeningProcess(addr string) (Process, error) {
	want, err := loopbackAddrs(addr)
	if err != nil {
		return Process{}, err
	}
	inodes := map[string]bool{}
	owner := -1
	for _, table := range []string{"net/tcp", "net/tcp6"} {
		socks, err := listeningSockets(filepath.Join(procRoot, table))
		if err != nil {
			return Process{}, err
		}
		for _, s := range socks {
			if matches(s.addr, want) {
				inodes[s.inode] = true
				owner = s.uid
			}
		}
	}
	if len(inodes) == 0 {
		return Process{}, fmt.Errorf("%w at %s", ErrNotListening, addr)
	}
	pid, err := socketHolder(inodes)
	if err != nil {
		return Process{}, err
	}
	if pid == 0 {
		return Process{}, fmt.Errorf("the process listening at %s runs as uid %d, whose processes this user cannot inspect: run doctor as that user (for the system service: sudo tokenagent doctor)", addr, owner)
	}
	return readProcess(pid)
}

// loopbackAddrs returns the addresses addr stands for: its IP, both
// loopback addresses for localhost, none (any) for an unspecified host.
func loopbackAddrs(addr string) ([]netip.AddrPort, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("reading the address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("reading the port of %q: %w", addr, err)
	}
	var ips []netip.Addr
	switch host {
	case "localhost":
		ips = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	case "":
		ips = []netip.Addr{netip.IPv4Unspecified()}
	default:
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("reading the host of %q: %w", addr, err)
		}
		ips = []netip.Addr{ip.Unmap()}
	}
	out := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		out[i] = netip.AddrPortFrom(ip, uint16(port))
	}
	return out, nil
}

// matches tells whether a socket listening at have takes connections to
// one of want.
func matches(have netip.AddrPort, want []netip.AddrPort) bool {
	for _, w := range want {
		if have.Port() == w.Port() && (have.Addr() == w.Addr() || have.Addr().IsUnspecified() || w.Addr().IsUnspecified()) {
			return true
		}
	}
	return false
}

// socket is a listening socket of /proc/net/tcp.
type socket struct {
	addr  netip.AddrPort
	uid   int
	inode string
}

// tcpListen is the state column's value for LISTEN.
const tcpListen = "0A"

// listeningSockets reads the listening sockets of a /proc/net/tcp table:
// "sl local_address rem_address st … uid timeout inode …" after a heading.
func listeningSockets(path string) ([]socket, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no IPv6 in this kernel
	}
	if err != nil {
		return nil, fmt.Errorf("reading the sockets: %w", err)
	}
	defer f.Close()
	var out []socket
	sc := bufio.NewScanner(f)
	sc.Scan() // the heading
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != tcpListen {
			continue
		}
		a, err := procAddr(fields[1])
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil {
			return nil, fmt.Errorf("reading %s: uid %q: %w", path, fields[7], err)
		}
		out = append(out, socket{addr: a, uid: uid, inode: fields[9]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// procAddr decodes an address of /proc/net/tcp: the IP in hex, each 32-bit
// word printed as a number in the machine's byte order, then ':' and the
// port in hex.
func procAddr(s string) (netip.AddrPort, error) {
	ipHex, portHex, _ := strings.Cut(s, ":")
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port of %q: %w", s, err)
	}
	b, err := hex.DecodeString(ipHex)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q is not 8 or 32 hex digits", s)
	}
	for i := 0; i < len(b); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(b[i:]))
	}
	ip, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

// socketHolder returns the first process holding one of the socket
// inodes, or 0 when none of the processes this user may inspect does.
func socketHolder(inodes map[string]bool) (int, error) {
	procs, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, fmt.Errorf("listing the processes: %w", err)
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue // not a process
		}
		fdDir := filepath.Join(procRoot, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // another user's, or gone
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			if inode, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(inode, "]")] {
				return pid, nil
			}
		}
	}
	return 0, nil
}

// readProcess reads the command line and the working directory of pid.
func readProcess(pid int) (Process, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return Process{}, fmt.Errorf("reading the command line of process %d: %w", pid, err)
	}
	p := Process{PID: pid, Args: strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")}
	p.Dir, _ = os.Readlink(filepath.Join(dir, "cwd")) // unreadable: relative paths stay unknown
	return p, nil
}
