package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const pidName = "agent.pid" // the demo agent running from this directory

// readyTimeout bounds how long run waits for the agent to answer /healthz;
// loading SoftHSM and listening take well under a second.
const readyTimeout = 30 * time.Second

// run sets the demo up, refuses to start a second agent where one already
// answers, then runs agentBin on the demo tokens and prints the page's URL
// once the agent answers. Interrupts and terminations go to the agent;
// run returns when it has exited, with its exit code.
func (d demo) run(agentBin string, stdout, stderr io.Writer) error {
	if running, err := d.alreadyRunning(); err != nil {
		return err
	} else if running != "" {
		fmt.Fprintln(stdout, running)
		return nil
	}
	if err := d.setup(stdout); err != nil {
		return err
	}

	cmd := exec.Command(agentBin, "run", "--config", d.path(configName))
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+d.path("softhsm2.conf"))
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// Signals are the agent's to act on; run only passes them on and waits.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the agent: %w", err)
	}
	if err := os.WriteFile(d.path(pidName), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		fmt.Fprintln(stderr, "demotoken: recording the agent's pid:", err)
	}
	defer os.Remove(d.path(pidName))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	ready := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	go func() { ready <- d.waitReady(ctx) }()
	var notReady error
	for {
		select {
		case err := <-ready:
			if err != nil {
				notReady = fmt.Errorf("the agent did not answer on %s: %w", d.listen, err)
				_ = cmd.Process.Signal(syscall.SIGTERM)
			} else {
				fmt.Fprintf(stdout, "Self-service page: %s  (Ctrl-C stops the agent)\n", d.pageURL())
			}
			ready = nil
		case sig := <-signals:
			_ = cmd.Process.Signal(sig)
		case err := <-exited:
			if notReady != nil {
				return notReady
			}
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return exitCode(exit.ExitCode())
			}
			return err
		}
	}
}

func (d demo) pageURL() string { return "http://" + d.listen + "/" }

// health asks whatever listens on the demo's address for /healthz. It
// returns the version of the tokenagent answering, or an error saying why
// none does.
func (d demo) health(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.listen+"/healthz", nil)
	if err != nil {
		return "", err
	}
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var h struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&h); err != nil || resp.StatusCode != http.StatusOK || h.Status != "ok" {
		return "", errNotAgent
	}
	return h.Version, nil
}

var errNotAgent = errors.New("not a tokenagent")

// alreadyRunning returns, for people, what already listens on the demo's
// address: empty when nothing does; an error when the port is taken by
// another program.
func (d demo) alreadyRunning() (string, error) {
	conn, err := net.DialTimeout("tcp", d.listen, time.Second)
	if err != nil {
		return "", nil // free
	}
	conn.Close()
	version, err := d.health(context.Background())
	if err != nil {
		return "", fmt.Errorf("%s is taken by a program that is not tokenagent; stop it, or run the demo elsewhere with DEMO_LISTEN=127.0.0.1:PORT", d.listen)
	}
	where := "started elsewhere (not from " + d.dir + ")"
	if pid := d.recordedPID(); pid > 0 {
		where = fmt.Sprintf("pid %d, from %s", pid, d.dir)
	}
	return fmt.Sprintf("A tokenagent (version %s) is already running at %s (%s).\nSelf-service page: %s", version, d.listen, where, d.pageURL()), nil
}

// recordedPID is the pid in agent.pid when that process still exists.
func (d demo) recordedPID() int {
	b, err := os.ReadFile(d.path(pidName))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if p, err := os.FindProcess(pid); err != nil || p.Signal(syscall.Signal(0)) != nil {
		return 0
	}
	return pid
}

// waitReady asks /healthz until the agent answers or ctx ends.
func (d demo) waitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := d.health(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
