package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/internal/syncbuf"
)

// TestDemoRenewal goes the way a person trying the demo goes: make demo
// (demotoken run with the real agent binary), a second make demo while the
// first runs, "Renew a certificate" on the demo token (renewal.prepare), the
// CA issuing the CSR (demotoken issue), renewal.complete, and the new
// certificate checked by openssl verify against the demo CA.
func TestDemoRenewal(t *testing.T) {
	softhsm.New(t)
	dir := t.TempDir()
	agentBin := buildAgent(t)
	listen := freeAddr(t)

	stdout, stdoutW := io.Pipe()
	exited := make(chan int, 1)
	var agentLog syncbuf.Buffer
	go func() {
		defer stdoutW.Close()
		exited <- run([]string{"-dir", dir, "-listen", listen, "run", agentBin}, nil, stdoutW, &agentLog)
	}()
	lines := bufio.NewScanner(stdout)
	var sawPage bool
	for !sawPage && lines.Scan() {
		if line := lines.Text(); strings.HasPrefix(line, "Self-service page:") {
			sawPage = true
			if want := "http://" + listen + "/"; !strings.Contains(line, want) {
				t.Errorf("page line %q does not name %s", line, want)
			}
		}
	}
	if !sawPage {
		t.Fatalf("demotoken run ended without printing the page's URL (exit %d):\n%s", <-exited, agentLog.String())
	}
	go io.Copy(io.Discard, stdout) //nolint:errcheck // the rest of the output
	// The URL comes once the agent answers, so the socket is open now.
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+listen+"/ws", nil)
	if err != nil {
		t.Fatalf("the page's URL was printed, but the agent does not answer: %v", err)
	}
	defer conn.Close()

	t.Run("second make demo", func(t *testing.T) {
		code, out, errOut := demotoken(t, nil, "-dir", dir, "-listen", listen, "run", agentBin)
		if code != 0 || !strings.Contains(out, "already running at "+listen) || !strings.Contains(out, dir) {
			t.Errorf("second run: exit %d, stdout %q, stderr %q; want it to say where the first one runs", code, out, errOut)
		}
	})

	tokens := call[struct {
		Tokens []struct{ ID, Label string }
	}](t, conn, "tokens.list", map[string]any{})
	var tokenID string
	for _, tok := range tokens.Tokens {
		if tok.Label == "demo" {
			tokenID = tok.ID
		}
	}
	certs := call[struct{ Certificates []struct{ ID string } }](t, conn, "certs.list", map[string]any{"token": tokenID})
	if len(certs.Certificates) != 1 {
		t.Fatalf("demo token has %d certificates, want 1", len(certs.Certificates))
	}
	oldCert := certs.Certificates[0].ID
	prepared := call[struct{ Key, CSR string }](t, conn, "renewal.prepare", map[string]any{"token": tokenID, "pin": userPIN, "cert": oldCert})

	code, certPEM, errOut := demotoken(t, []byte(prepared.CSR), "-dir", dir, "issue")
	if code != 0 || !strings.HasPrefix(certPEM, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("issue: exit %d, stderr %q", code, errOut)
	}
	completed := call[struct{ Cert string }](t, conn, "renewal.complete", map[string]any{
		"token": tokenID, "pin": userPIN, "certificate": certPEM, "replaces": oldCert, "removeOld": true,
	})
	if completed.Cert != prepared.Key {
		t.Errorf("renewed certificate id %q, want the new key's %q", completed.Cert, prepared.Key)
	}
	certs = call[struct{ Certificates []struct{ ID string } }](t, conn, "certs.list", map[string]any{"token": tokenID})
	if len(certs.Certificates) != 1 || certs.Certificates[0].ID != completed.Cert {
		t.Errorf("after renewal the token holds %+v, want only %s", certs.Certificates, completed.Cert)
	}

	work := t.TempDir()
	openssl.WriteFiles(t, work, map[string][]byte{"new.pem": []byte(certPEM)})
	if out, ok := openssl.Run(t, work, "verify", "-CAfile", filepath.Join(dir, caName), "new.pem"); !ok {
		t.Errorf("openssl verify of the renewed certificate failed:\n%s", out)
	}
	audit, err := os.ReadFile(filepath.Join(dir, auditName))
	if err != nil || !bytes.Contains(audit, []byte(`"method":"renewal.complete"`)) {
		t.Errorf("the demo's audit log %s lacks the renewal (%v):\n%s", filepath.Join(dir, auditName), err, audit)
	}

	pid := readPID(t, dir)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-exited; code != 0 {
		t.Errorf("demotoken run exited %d after the agent was stopped, want 0:\n%s", code, agentLog.String())
	}
	if _, err := os.Stat(filepath.Join(dir, pidName)); !os.IsNotExist(err) {
		t.Errorf("agent.pid left behind: %v", err)
	}
}

// TestRunRefusesATakenPort: a port held by some other program is reported,
// and no agent is started.
func TestRunRefusesATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
			c.Close()
		}
	}()
	code, _, errOut := demotoken(t, nil, "-dir", t.TempDir(), "-listen", ln.Addr().String(), "run", "/nonexistent/agent")
	if code != 1 || !strings.Contains(errOut, "not tokenagent") {
		t.Errorf("exit %d, stderr %q; want 1 and that the port is taken by another program", code, errOut)
	}
}

func readPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, pidName))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// buildAgent builds cmd/tokenagent as make build does.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tokenagent")
	cmd := exec.Command("go", "build", "-o", bin, "../tokenagent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var nextID int

// call makes one JSON-RPC call and decodes its result into R.
func call[R any](t *testing.T, conn *websocket.Conn, method string, params any) R {
	t.Helper()
	nextID++
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": nextID, "method": method, "params": params}); err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Result json.RawMessage
		Error  *struct {
			Message string
			Data    map[string]any
		}
	}
	if err := conn.ReadJSON(&resp); err != nil {
		t.Fatal(err)
	}
	if resp.Error != nil {
		t.Fatalf("%s: %s %v", method, resp.Error.Message, resp.Error.Data)
	}
	var r R
	if err := json.Unmarshal(resp.Result, &r); err != nil {
		t.Fatalf("%s: decoding result: %v", method, err)
	}
	return r
}
