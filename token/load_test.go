package token

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// TestAddModule loads SoftHSM into a running Manager that started without
// modules, while another goroutine lists tokens.
func TestAddModule(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("late", "so-pin-1", "user-pin-1"); err != nil {
		t.Fatal(err)
	}
	m := NewManager(nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // listing meanwhile: the race detector watches
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = m.Tokens(context.Background())
			_ = m.Modules()
		}
	}()
	added, err := m.AddModule(env.Module)
	close(stop)
	wg.Wait()
	if !added || err != nil {
		t.Fatalf("AddModule = %v, %v; want added", added, err)
	}
	if got := labels(t, m); !got["late"] {
		t.Errorf("tokens after AddModule: %v, want late", got)
	}
	if added, err := m.AddModule(env.Module); added || err != nil {
		t.Errorf("AddModule again = %v, %v; want not added, no error", added, err)
	}
	if _, err := m.AddModule("/nonexistent/libnothing.so"); err == nil {
		t.Error("AddModule of a missing library succeeded")
	}
	st := m.Modules()
	if len(st) != 2 || st[0].Path != env.Module || st[0].Err != nil || st[1].Err == nil {
		t.Errorf("Modules() = %+v: want SoftHSM loaded and the missing one with its error", st)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddModule(env.Module); !errors.Is(err, ErrClosed) {
		t.Errorf("AddModule after Close: %v, want ErrClosed", err)
	}
}
