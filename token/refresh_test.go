package token

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// labels lists the labels of the tokens m lists.
func labels(t *testing.T, m *Manager) map[string]bool {
	t.Helper()
	infos, err := m.Tokens(context.Background())
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	out := map[string]bool{}
	for _, ti := range infos {
		out[ti.Label] = true
	}
	return out
}

// kept counts the tokens of mod with an open session, and those with
// certificates remembered.
func kept(mod *Module) (sessions, certs int) {
	mod.tokensMu.Lock()
	defer mod.tokensMu.Unlock()
	for _, st := range mod.tokens {
		if st.hasSession {
			sessions++
		}
		if st.certs != nil {
			certs++
		}
	}
	return sessions, certs
}

// TestRefreshSeesOtherProcesses makes and deletes SoftHSM tokens with
// softhsm2-util while a Manager has the module open: only Refresh shows
// them, a deleted token just drops out of the listing before that, and a
// module in use is left alone.
func TestRefreshSeesOtherProcesses(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("first", "so-pin-1", "user-pin-1"); err != nil {
		t.Fatal(err)
	}
	m := NewManager([]string{env.Module}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { _ = m.Close() })
	if len(m.modules) != 1 {
		t.Fatalf("module not loaded: %+v", m.Modules())
	}
	mod := m.modules[0]
	first := labels(t, m)
	if !first["first"] {
		t.Fatalf("tokens %v, want first", first)
	}
	// A session and remembered certificates exist before the refresh.
	infos, _ := m.Tokens(context.Background())
	if _, err := m.Certificates(context.Background(), infos[0].ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := kept(mod); n != 1 {
		t.Fatalf("%d sessions kept, want 1", n)
	}

	if err := env.InitToken("second", "so-pin-2", "user-pin-2"); err != nil {
		t.Fatal(err)
	}
	if got := labels(t, m); got["second"] {
		t.Fatal("second token seen without Refresh: the test shows nothing")
	}

	// Busy: a call in flight holds the read side; Refresh must skip.
	mod.mu.RLock()
	m.Refresh()
	mod.mu.RUnlock()
	if got := labels(t, m); got["second"] {
		t.Fatal("Refresh re-initialised a module in use")
	}

	m.Refresh()
	if got := labels(t, m); !got["first"] || !got["second"] {
		t.Fatalf("after Refresh: tokens %v, want first and second", got)
	}
	if sessions, certs := kept(mod); sessions != 0 || certs != 0 {
		t.Errorf("after Refresh: %d sessions, %d certificate caches kept; want none", sessions, certs)
	}
	if len(mod.tokens) == 0 {
		t.Error("after Refresh: token locks dropped")
	}
	// Calls work on the fresh context (a new session).
	if _, err := m.Certificates(context.Background(), infos[0].ID); err != nil {
		t.Fatalf("Certificates after Refresh: %v", err)
	}

	if err := env.DeleteToken("second"); err != nil {
		t.Fatal(err)
	}
	// Before a refresh the module answers for the deleted token with an
	// error: the listing drops it and keeps the others.
	if got := labels(t, m); !got["first"] || got["second"] {
		t.Fatalf("after delete, before Refresh: tokens %v, want first only", got)
	}
	m.Refresh()
	if got := labels(t, m); !got["first"] || got["second"] {
		t.Fatalf("after delete and Refresh: tokens %v, want first only", got)
	}
}

// refreshedManager returns a Manager of a SoftHSM holding token "t" (user
// PIN "user-pin-1"), past the first poll, which re-initialises once.
func refreshedManager(t *testing.T) (*softhsm.Env, *Manager) {
	t.Helper()
	env := softhsm.New(t)
	if err := env.InitToken("t", "so-pin-1", "user-pin-1"); err != nil {
		t.Fatal(err)
	}
	m := NewManager([]string{env.Module}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	m.Refresh()
	return env, m
}

// TestRefreshOnlyWhenTheStoreChanged checks that an idle poll leaves the
// module alone: the session and the certificates read stay until a token is
// made in the store.
func TestRefreshOnlyWhenTheStoreChanged(t *testing.T) {
	env, m := refreshedManager(t)
	mod := m.modules[0]
	if mod.store == nil || mod.store.dir == "" {
		t.Fatalf("SoftHSM's token store not found: %+v", mod.store)
	}
	infos, err := m.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Certificates(context.Background(), infos[0].ID); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m.Refresh()
	}
	if n, _ := kept(mod); n != 1 {
		t.Fatalf("idle Refresh dropped the session (%d kept)", n)
	}
	if err := env.InitToken("u", "so-pin-2", "user-pin-2"); err != nil {
		t.Fatal(err)
	}
	m.Refresh()
	if n, _ := kept(mod); n != 0 {
		t.Fatal("Refresh after a new token kept the old session: the module was not re-initialised")
	}
}

func TestSoftHSMTokenDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, config, want string
	}{
		{"plain", "directories.tokendir = /var/lib/softhsm/tokens/\n", "/var/lib/softhsm/tokens/"},
		{"comments and other keys", "# SoftHSM v2 configuration file\nobjectstore.backend = file\ndirectories.tokendir=/t\nlog.level = ERROR\n", "/t"},
		{"no key", "objectstore.backend = file\n", ""},
		{"commented out", "# directories.tokendir = /t\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := softHSMTokenDir(write(tc.name, tc.config)); got != tc.want {
				t.Errorf("softHSMTokenDir = %q, want %q", got, tc.want)
			}
		})
	}
	if got := softHSMTokenDir(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("softHSMTokenDir(missing file) = %q", got)
	}
	if storeOf(ModuleInfo{Manufacturer: "OpenSC Project"}) != nil {
		t.Error("a module other than SoftHSM got a token store to watch")
	}
}

func TestRefreshClosed(t *testing.T) {
	env := softhsm.New(t)
	m := NewManager([]string{env.Module}, slog.New(slog.DiscardHandler))
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m.Refresh() // no panic, nothing done
	if done, err := m.modules[0].refresh(); done || err != nil {
		t.Errorf("refresh of a closed module = %v, %v", done, err)
	}
}

// TestRefreshAfterUserPINInitialised makes a token in two steps from another
// process, as softhsm2-util and pkcs11-tool do (C_InitToken, then the SO's
// C_InitPIN), with the Manager re-initialised between them. SoftHSM reads a
// token's PIN blobs only at C_Initialize, so without another
// re-initialisation every login answers CKR_USER_PIN_NOT_INITIALIZED.
func TestRefreshAfterUserPINInitialised(t *testing.T) {
	env := softhsm.New(t)
	m := NewManager([]string{env.Module}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	m.Refresh()
	if _, err := env.P11Tool([]string{"so-pin-1"}, "--init-token", "--label", "late", "--so-pin", "so-pin-1"); err != nil {
		t.Fatal(err)
	}
	m.Refresh()
	infos, err := m.Tokens(context.Background())
	if err != nil || len(infos) != 1 || infos[0].Label != "late" {
		t.Fatalf("tokens %+v, %v; want the one token late", infos, err)
	}
	if _, err := env.P11Tool([]string{"so-pin-1", "user-pin-1"}, "--token-label", "late",
		"--login", "--login-type", "so", "--so-pin", "so-pin-1", "--init-pin", "--new-pin", "user-pin-1"); err != nil {
		t.Fatal(err)
	}
	m.Refresh()
	err = m.Login(context.Background(), infos[0].ID, Credentials{PIN: []byte("user-pin-1")}, func(*Session) error { return nil })
	if err != nil {
		t.Fatalf("login after the user PIN was set by another process: %v", err)
	}
}
