package loadtest

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// agentProcess is the tokenagent binary running as its own process, so that
// its RSS and CPU time can be read from /proc without the load generator's
// own counted in.
type agentProcess struct {
	cmd  *exec.Cmd
	addr string // host:port
	env  *softhsm.Env
}

// benchEnv makes an empty token "bench" with the user PIN, and a CA to
// issue its certificates.
func benchEnv(t *testing.T) (*softhsm.Env, *softhsm.CA) {
	env := softhsm.New(t)
	if err := env.InitToken("bench", "12345678", userPIN); err != nil {
		t.Fatal(err)
	}
	ca, err := softhsm.NewCA("Bench CA")
	if err != nil {
		t.Fatal(err)
	}
	return env, ca
}

// benchToken makes the token the load runs use, as a user's would look: one
// EC-P256 key with its certificate.
func benchToken(t *testing.T) *softhsm.Env {
	env, ca := benchEnv(t)
	if _, _, err := env.AddKeyAndCert("bench", userPIN, ca, softhsm.CertSpec{
		KeyAlgorithm: "EC-P256", ID: []byte{1}, Label: "bench", Subject: pkix.Name{CommonName: "Bench User"},
	}); err != nil {
		t.Fatal(err)
	}
	return env
}

// keptPlaces are the places the agent keeps for its own page and for
// local programs, which no other origin takes (PROTOCOL.md section 1).
const keptPlaces = 16

// startAgent builds tokenagent and runs it on env's SoftHSM with a config
// allowing maxConns connections from one origin; the process is stopped
// when t ends.
func startAgent(t *testing.T, env *softhsm.Env, maxConns int) *agentProcess {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tokenagent")
	build := exec.Command("go", "build", "-o", bin, "github.com/tokenagent/tokenagent/cmd/tokenagent")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	config := fmt.Sprintf("listen = %q\nmodules = [%q]\nallowed_origins = [\"https://portal.example\", \"http://localhost:8080\"]\n"+
		"max_connections = %d\nmax_connections_per_origin = %d\nstate_dir = %q\n",
		addr, env.Module, maxConns+keptPlaces, maxConns, filepath.Join(dir, "state"))
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", configPath)
	cmd.Env = append(os.Environ(), env.Environ()...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProcess{cmd: cmd, addr: addr, env: env}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = log.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("agent not healthy after 10 s: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// usage is what /proc says of the agent process at one moment.
type usage struct {
	cpu     time.Duration // user + system, in clock ticks (all threads ever)
	onCPU   time.Duration // time on a CPU of the live threads, to the ns
	rssKB   int
	anonKB  int
	fileKB  int
	fds     int
	threads int
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux ABI Go supports.
const clockTick = 10 * time.Millisecond

func (p *agentProcess) usage(t *testing.T) usage {
	t.Helper()
	pid := strconv.Itoa(p.cmd.Process.Pid)
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which may hold spaces: state is
	// field 3, utime 14, stime 15.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	u := usage{cpu: time.Duration(utime+stime) * clockTick}
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		// The first field of schedstat is the thread's time on a CPU in ns.
		ss, err := os.ReadFile("/proc/" + pid + "/task/" + task.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended meanwhile
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(ss))[0], 10, 64)
		u.onCPU += time.Duration(ns)
	}
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		key, value, _ := strings.Cut(line, ":")
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
		switch key {
		case "VmRSS":
			u.rssKB = n
		case "RssAnon":
			u.anonKB = n
		case "RssFile":
			u.fileKB = n
		case "Threads":
			u.threads = n
		}
	}
	fds, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	u.fds = len(fds)
	return u
}

func mb(kb int) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

// rpcError is a JSON-RPC error as the agent sends it.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    struct {
		Reason string `json:"reason"`
	} `json:"data"`
}

func (e *rpcError) Error() string { return e.Data.Reason + ": " + e.Message }

// wsClient is one connection making one call at a time.
type wsClient struct {
	conn   *websocket.Conn
	nextID int
}

func dialAgent(ctx context.Context, addr, origin string) (*wsClient, error) {
	header := http.Header{}
	if origin != "" {
		header.Set("Origin", origin)
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+addr+"/ws", header)
	if err != nil {
		return nil, err
	}
	return &wsClient{conn: conn}, nil
}

// call sends one request and waits for its response, skipping event
// notifications; a JSON-RPC error comes back as *rpcError. Params already
// encoded (json.RawMessage) go out as they are, so that a run timing the
// agent does not time this client encoding the same params again.
func (c *wsClient) call(method string, params any) (json.RawMessage, error) {
	c.nextID++
	raw, ok := params.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(params); err != nil {
			return nil, err
		}
	}
	frame := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":%q,"params":`, c.nextID, method)
	if err := c.conn.WriteMessage(websocket.TextMessage, append(append(frame, raw...), '}')); err != nil {
		return nil, err
	}
	for {
		var resp struct {
			ID     *int
			Result json.RawMessage
			Error  *rpcError
		}
		if err := c.conn.ReadJSON(&resp); err != nil {
			return nil, err
		}
		if resp.ID == nil {
			continue // a notification
		}
		if *resp.ID != c.nextID {
			return nil, fmt.Errorf("response to id %d, want %d", *resp.ID, c.nextID)
		}
		if resp.Error != nil {
			return nil, resp.Error
		}
		return resp.Result, nil
	}
}

func (c *wsClient) close() { _ = c.conn.Close() }

// tally counts call outcomes by method and by error reason, and keeps the
// latencies of the successful calls; safe for concurrent use.
type tally struct {
	mu        sync.Mutex
	latencies map[string][]time.Duration
	errors    map[string]int // "method: reason"
}

func newTally() *tally {
	return &tally{latencies: map[string][]time.Duration{}, errors: map[string]int{}}
}

func (t *tally) add(method string, d time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.latencies[method] = append(t.latencies[method], d)
		return
	}
	var re *rpcError
	if errors.As(err, &re) {
		t.errors[method+": "+re.Data.Reason]++
	} else {
		t.errors[method+": "+err.Error()]++
	}
}

// timed makes one call and adds it to the tally.
func (t *tally) timed(c *wsClient, method string, params any) (json.RawMessage, error) {
	start := time.Now()
	res, err := c.call(method, params)
	t.add(method, time.Since(start), err)
	return res, err
}

func (t *tally) calls() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, d := range t.latencies {
		n += len(d)
	}
	for _, e := range t.errors {
		n += e
	}
	return n
}
