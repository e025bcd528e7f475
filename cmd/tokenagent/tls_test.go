package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/kardianos/service"

	"github.com/tokenagent/tokenagent/internal/config"
	"github.com/tokenagent/tokenagent/internal/localtls"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
)

// recordingUpdate returns an update command for a trust dir that logs its
// runs, and the log's path.
func recordingUpdate(t *testing.T) (cmd, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "calls")
	cmd = filepath.Join(dir, "update-ca-certificates")
	if err := os.WriteFile(cmd, []byte("#!/bin/sh\necho ran >> '"+log+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return cmd, log
}

// newNSSDB creates an empty NSS database, or skips the test when certutil
// is missing (fails it under CI).
func newNSSDB(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("certutil"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: %v", localtls.ErrNoCertutil)
		}
		t.Skipf("skipping: %v", localtls.ErrNoCertutil)
	}
	db := t.TempDir()
	if out, err := exec.Command("certutil", "-N", "--empty-password", "-d", "sql:"+db).CombinedOutput(); err != nil {
		t.Fatalf("certutil -N: %v: %s", err, out)
	}
	return db
}

func certutilList(t *testing.T, db string) string {
	t.Helper()
	out, err := exec.Command("certutil", "-L", "-d", "sql:"+db).CombinedOutput()
	if err != nil {
		t.Fatalf("certutil -L: %v: %s", err, out)
	}
	return string(out)
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("tokenagent %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestTLSEndToEnd sets TLS up against a temporary trust dir and NSS
// database, serves the agent with the config setup wrote, and calls
// agent.info over wss:// from a client that trusts only the new CA; then
// removes it all again.
func TestTLSEndToEnd(t *testing.T) {
	env := softhsm.New(t)
	db := newNSSDB(t)
	update, calls := recordingUpdate(t)
	base := t.TempDir()
	trust := filepath.Join(base, "ca-certificates")
	dir := filepath.Join(base, "tls")
	cfgPath := filepath.Join(base, "config.toml")
	cfg := "listen = \"127.0.0.1:0\"\nstate_dir = \"" + filepath.Join(base, "state") + "\"\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--dir", dir, "--config", cfgPath, "--trust-dir", trust, "--update-cmd", update, "--nss-db", db}

	out := runOK(t, append([]string{"tls", "setup"}, flags...)...)
	t.Logf("setup:\n%s", out)
	if ran, err := os.ReadFile(calls); err != nil || strings.Count(string(ran), "ran") != 1 {
		t.Errorf("update command runs: %q, %v; want 1", ran, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(trust, localtls.DebianFile))
	if err != nil {
		t.Fatalf("the CA is not in the trust dir: %v", err)
	}
	if list := certutilList(t, db); !strings.Contains(list, localtls.Nickname) {
		t.Errorf("certutil -L does not list the CA:\n%s", list)
	}
	// The CA as installed: constrained to the loopback names, critically.
	// (internal/localtls shows that such a CA cannot vouch for other names.)
	if block, _ := pem.Decode(caPEM); block == nil {
		t.Error("the trust dir's file holds no PEM")
	} else if ca, err := x509.ParseCertificate(block.Bytes); err != nil {
		t.Error(err)
	} else {
		var ips []string
		for _, n := range ca.PermittedIPRanges {
			ips = append(ips, n.String())
		}
		if !ca.PermittedDNSDomainsCritical || strings.Join(ca.PermittedDNSDomains, ",") != "localhost" ||
			strings.Join(ips, ",") != "127.0.0.1/32,::1/128" || !ca.IsCA || ca.MaxPathLen != 0 {
			t.Errorf("CA constraints: critical %v, DNS %q, IP %q, CA %v, MaxPathLen %d",
				ca.PermittedDNSDomainsCritical, ca.PermittedDNSDomains, ips, ca.IsCA, ca.MaxPathLen)
		}
	}
	loaded, err := config.Load(cfgPath, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if loaded.TLS.Cert != filepath.Join(dir, "cert.pem") || loaded.TLS.Key != filepath.Join(dir, "key.pem") {
		t.Errorf("config [tls] = %+v", loaded.TLS)
	}
	status := runOK(t, append([]string{"tls", "status"}, flags...)...)
	for _, want := range []string{"debian " + trust + ": installed", "nss " + db + ": installed", "sha256"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}

	// The agent, serving with the config setup wrote.
	addr := startRunAgent(t, "--config", cfgPath, "--module", env.Module).addr

	roots := x509.NewCertPool() // the new CA and nothing else
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in the trust dir's file")
	}
	url := "wss://" + addr.String() + "/ws"
	dialer := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}, HandshakeTimeout: 5 * time.Second}
	conn, _, err := dialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dialing %s trusting the local CA: %v", url, err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "agent.info"}); err != nil {
		t.Fatal(err)
	}
	var info struct {
		Result struct {
			Name     string
			Protocol int
		}
	}
	if err := conn.ReadJSON(&info); err != nil || info.Result.Name != "tokenagent" || info.Result.Protocol != 1 {
		t.Errorf("agent.info = %+v, %v", info, err)
	}
	// The control: a client that does not trust the CA is refused.
	untrusting := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}, HandshakeTimeout: 5 * time.Second}
	if c, _, err := untrusting.Dial(url, nil); err == nil {
		c.Close()
		t.Error("a client trusting no CA connected")
	} else if !errors.As(err, new(*tls.CertificateVerificationError)) {
		t.Errorf("a client trusting no CA: %v, want a verification error", err)
	}

	out = runOK(t, append([]string{"tls", "remove"}, flags...)...)
	t.Logf("remove:\n%s", out)
	if list := certutilList(t, db); strings.Contains(list, localtls.Nickname) {
		t.Errorf("certutil -L still lists the CA:\n%s", list)
	}
	for _, f := range []string{filepath.Join(trust, localtls.DebianFile), filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")} {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after remove: %v", f, err)
		}
	}
	if ran, _ := os.ReadFile(calls); strings.Count(string(ran), "ran") != 2 {
		t.Errorf("update command ran %d times, want 2 (setup, remove)", strings.Count(string(ran), "ran"))
	}
	if data, _ := os.ReadFile(cfgPath); string(data) != cfg {
		t.Errorf("config after remove:\n%s\nwant:\n%s", data, cfg)
	}
	if status := runOK(t, append([]string{"tls", "status"}, flags...)...); !strings.Contains(status, "no local CA installed") {
		t.Errorf("status after remove:\n%s", status)
	}
}

// TestTLSRemoveKeepsOtherCertificates: remove leaves a [tls] that names a
// certificate of the user's own.
func TestTLSRemoveKeepsOtherCertificates(t *testing.T) {
	base := t.TempDir()
	cfgPath := filepath.Join(base, "config.toml")
	cfg := "[tls]\ncert = \"/etc/ssl/mine.pem\"\nkey = \"/etc/ssl/mine.key\"\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runOK(t, "tls", "remove", "--dir", filepath.Join(base, "tls"), "--config", cfgPath, "--trust-dir", filepath.Join(base, "trust"))
	if !strings.Contains(out, "no local CA installed") {
		t.Errorf("remove said %q", out)
	}
	if data, _ := os.ReadFile(cfgPath); string(data) != cfg {
		t.Errorf("config after remove:\n%s", data)
	}
}

func TestTLSUsage(t *testing.T) {
	for _, args := range [][]string{{"tls"}, {"tls", "frobnicate"}, {"tls", "setup", "extra"}, {"tls", "--user"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage: tokenagent tls") {
			t.Errorf("run(%q) = %d, %q; want 2 with usage", args, code, stderr.String())
		}
	}
}

// TestRenewLocalTLS: at startup the agent renews a certificate of ours
// with under 30 days left, and leaves other certificates alone.
func TestRenewLocalTLS(t *testing.T) {
	ctx := context.Background()
	o := localtls.Options{UpdateCmd: []string{"true"}}
	store := &localtls.SystemStore{Kind: localtls.KindDebian, Dir: t.TempDir(), UpdateCmd: o.UpdateCmd}
	dir := t.TempDir()
	old, err := localtls.Setup(ctx, dir, []localtls.Store{store}, o, time.Now().Add(-380*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	// A config naming other files: nothing happens.
	renewLocalTLS(ctx, config.Config{TLS: config.TLS{Cert: filepath.Join(t.TempDir(), "cert.pem"), Key: old.KeyPath()}}, log, o)
	if in, err := localtls.Load(dir); err != nil || !in.CA.Equal(old.CA) {
		t.Fatalf("renewed a certificate the config does not name: %v", err)
	}

	renewLocalTLS(ctx, config.Config{TLS: config.TLS{Cert: old.CertPath(), Key: old.KeyPath()}}, log, o)
	in, err := localtls.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if in.CA.Equal(old.CA) || localtls.RenewalDue(in.Cert, time.Now()) {
		t.Errorf("not renewed; logs:\n%s", logs.String())
	}
	if ok, _ := store.Contains(ctx, in.CA); !ok {
		t.Error("the new CA is not trusted")
	}
	if !strings.Contains(logs.String(), "renewed the local TLS certificate") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

// TestDoctorTLSTrust checks that doctor reports, store by store, whether
// the CA `tls setup` installed, and set in the config, is trusted.
func TestDoctorTLSTrust(t *testing.T) {
	db := newNSSDB(t)
	update, _ := recordingUpdate(t)
	base := t.TempDir()
	trust := filepath.Join(base, "ca-certificates")
	dir := filepath.Join(base, "tls")
	cfgPath := filepath.Join(base, "config.toml")
	runOK(t, "tls", "setup", "--dir", dir, "--config", cfgPath, "--trust-dir", trust, "--update-cmd", update, "--nss-db", db)

	useFakeService(t, &fakeService{statusErr: service.ErrNotInstalled})
	check := func() string {
		var out, stderr bytes.Buffer
		doctorWith(testProbe(token.ReaderState{Available: true}), []string{"--config", cfgPath}, &out, &stderr)
		return out.String()
	}
	out := check()
	if !strings.Contains(out, db+" trusts the local CA") || !strings.Contains(out, trust+" trusts the local CA") {
		t.Errorf("after setup:\n%s\nwant both stores trusting the CA", out)
	}
	if err := exec.Command("certutil", "-D", "-n", "tokenagent local CA", "-d", "sql:"+db).Run(); err != nil {
		t.Fatal(err)
	}
	if out := check(); !strings.Contains(out, db+" does not trust the local CA") {
		t.Errorf("with the CA gone from the NSS database:\n%s\nwant it reported", out)
	}
	if out := check(); !strings.Contains(out, "[warn] tls trust") {
		t.Errorf("a store without the CA is not a warning:\n%s", out)
	}
}

// TestDoctorOverTLS: doctor asks an agent whose config has [tls] over
// wss://, and reports its tokens.
func TestDoctorOverTLS(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("alice", "12345678", "1234"); err != nil {
		t.Fatal(err)
	}
	update, _ := recordingUpdate(t)
	base := t.TempDir()
	cfgPath := writeConfig(t, "listen = \"127.0.0.1:0\"\nmodules = [\""+env.Module+"\"]\nstate_dir = \""+filepath.Join(base, "state")+"\"\n")
	runOK(t, "tls", "setup", "--dir", filepath.Join(base, "tls"), "--config", cfgPath,
		"--trust-dir", filepath.Join(base, "ca-certificates"), "--update-cmd", update, "--nss-db", newNSSDB(t))
	ag := startAgentProcess(t, "--config", cfgPath)

	useFakeService(t, &fakeService{statusErr: service.ErrNotInstalled})
	var out, stderr bytes.Buffer
	doctorWith(testProbe(token.ReaderState{Available: true}), []string{"--config", cfgPath, "--listen", ag.addr}, &out, &stderr)
	for _, want := range []string{
		"[ok]   agent: the agent answers at wss://" + ag.addr + "/ws",
		"[ok]   agent module " + env.Module + ": ready (SoftHSM, version ",
		"); 1 token:\n         \"alice\" (SoftHSM v2, serial ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor's output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestTLSSetupMakesAPrivateStateDirectory: setup at its standard place
// creates the state directory it writes into with mode 0700, as the agent
// needs it to start.
func TestTLSSetupMakesAPrivateStateDirectory(t *testing.T) {
	db := newNSSDB(t)
	update, _ := recordingUpdate(t)
	base := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(base, "xdg"))
	cfgPath := filepath.Join(base, "config.toml")
	runOK(t, "tls", "setup", "--user", "--config", cfgPath, "--trust-dir", filepath.Join(base, "trust"), "--update-cmd", update, "--nss-db", db)
	st, err := os.Stat(filepath.Join(base, "xdg", "tokenagent"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("state directory after tls setup: %v, mode %v; want 0700", err, st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(base, "xdg", "tokenagent", "tls", localtls.CertFile)); err != nil {
		t.Errorf("no certificate in the state directory: %v", err)
	}
}
