package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/internal/syncbuf"
)

// The agent binary the process tests run: built once, without the race
// detector (whose shadow memory would swamp the RSS these tests read), and
// removed when the tests end.
var agentBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if agentBinary.dir != "" {
		os.RemoveAll(agentBinary.dir)
	}
	os.Exit(code)
}

// binary returns the path of the agent binary, building it the first time.
func binary(t *testing.T) string {
	t.Helper()
	agentBinary.once.Do(func() {
		if agentBinary.dir, agentBinary.err = os.MkdirTemp("", "tokenagent-bin-"); agentBinary.err != nil {
			return
		}
		agentBinary.path = filepath.Join(agentBinary.dir, "tokenagent")
		out, err := exec.Command("go", "build", "-o", agentBinary.path, "github.com/tokenagent/tokenagent/cmd/tokenagent").CombinedOutput()
		if err != nil {
			agentBinary.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if agentBinary.err != nil {
		t.Fatal(agentBinary.err)
	}
	return agentBinary.path
}

// agentProcess is the agent running in a process of its own.
type agentProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string          // where it listens
	log  *syncbuf.Buffer // its stderr
	done chan struct{}   // closed when it has exited
	err  error           // how it exited, once done is closed
}

var listeningLine = regexp.MustCompile(`msg="tokenagent listening" addr=(\S+)`)

// startAgentProcess runs `tokenagent run args...` in a process of its own
// and returns once it listens. The process is killed when the test ends.
func startAgentProcess(t *testing.T, args ...string) *agentProcess {
	t.Helper()
	p := &agentProcess{t: t, cmd: exec.Command(binary(t), append([]string{"run"}, args...)...), log: &syncbuf.Buffer{}, done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	var copied sync.WaitGroup
	copied.Add(1)
	go func() {
		defer copied.Done()
		for sc := bufio.NewScanner(stderr); sc.Scan(); {
			fmt.Fprintln(p.log, sc.Text())
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1]
			}
		}
	}()
	go func() {
		copied.Wait() // Wait closes the pipe: read it all first
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("agent process log:\n%s", p.log)
		}
	})
	select {
	case p.addr = <-addrs:
		return p
	case <-p.done:
		t.Fatalf("the agent exited before it listened: %v\n%s", p.err, p.log)
	case <-time.After(20 * time.Second):
		t.Fatalf("the agent did not listen within 20 s:\n%s", p.log)
	}
	return nil
}

// kill ends the process at once, as a crash would.
func (p *agentProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// peakRSS is the process's peak resident set so far (VmHWM), in KiB.
func (p *agentProcess) peakRSS() int {
	p.t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		p.t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				p.t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb
		}
	}
	p.t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// dial opens a socket to the agent with Origin origin ("" for none).
func (p *agentProcess) dial(origin string) *websocket.Conn {
	p.t.Helper()
	h := map[string][]string{}
	if origin != "" {
		h["Origin"] = []string{origin}
	}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/ws", h)
	if err != nil {
		p.t.Fatalf("dialling the agent: %v", err)
	}
	p.t.Cleanup(func() { _ = c.Close() })
	return c
}

// rpcReply is a response as these tests read it.
type rpcReply struct {
	Result json.RawMessage
	Error  *struct {
		Code    int
		Message string
		Data    map[string]any
	}
}

// call sends one frame and reads its response.
func call(t *testing.T, c *websocket.Conn, frame []byte) rpcReply {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var r rpcReply
	if err := c.ReadJSON(&r); err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	return r
}

// request encodes a JSON-RPC request.
func request(method string, params any) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	return b
}

// lineCount counts the lines of a file; 0 when it does not exist.
func lineCount(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// agentConfig writes a config for an agent on module with its state in
// dir, plus extra lines, and returns its path.
func agentConfig(t *testing.T, dir, module string, extra ...string) string {
	t.Helper()
	doc := fmt.Sprintf("listen = \"127.0.0.1:0\"\nmodules = [%q]\nstate_dir = %q\nallowed_origins = [\"https://a.example\", \"https://b.example\"]\n%s",
		module, filepath.Join(dir, "state"), strings.Join(extra, "\n"))
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
