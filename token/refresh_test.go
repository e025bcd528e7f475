package token

import (
	"context"
	"io"
	"log/slog"
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
	if len(mod.sessions) != 1 {
		t.Fatalf("%d sessions kept, want 1", len(mod.sessions))
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
	if len(mod.sessions) != 0 || len(mod.certs) != 0 {
		t.Errorf("after Refresh: %d sessions, %d certificate caches kept; want none", len(mod.sessions), len(mod.certs))
	}
	if len(mod.locks) == 0 {
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

// TestFixedSlots checks the test Refresh makes: SoftHSM's slots are all
// fixed (a module with a removable slot would not be refreshed).
func TestFixedSlots(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("t", "so-pin-1", "user-pin-1"); err != nil {
		t.Fatal(err)
	}
	mod, err := OpenModule(env.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close()
	fixed, err := fixedSlots(mod.ctx)
	if err != nil || !fixed {
		t.Errorf("fixedSlots(SoftHSM) = %v, %v; want true", fixed, err)
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
