//go:build !windows && !darwin

package localtls

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeCommands puts scripts named like the families' commands on a fresh
// $PATH, each appending its name and arguments to a log, and returns a
// function reading the log's lines.
func fakeCommands(t *testing.T) func() []string {
	t.Helper()
	bin := t.TempDir()
	log := filepath.Join(t.TempDir(), "calls")
	for _, name := range []string{"update-ca-certificates", "update-ca-trust", "trust"} {
		script := "#!/bin/sh\necho \"" + name + " $*\" >> '" + log + "'\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	return func() []string {
		data, err := os.ReadFile(log)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		for i, l := range lines {
			lines[i] = strings.TrimSpace(l)
		}
		return lines
	}
}

// TestSystemStoresOfEachFamily sets up and removes the CA in each
// family's system store under a temporary root, with the family's own
// commands (fakes that record how they are run): the store is found by its
// directory, the file has the family's name, and the commands run as the
// family wants them.
func TestSystemStoresOfEachFamily(t *testing.T) {
	for _, tc := range []struct {
		kind, dir, file string
		calls           []string // install, then remove
	}{
		{KindDebian, "usr/local/share/ca-certificates", "tokenagent-local-ca.crt",
			[]string{"update-ca-certificates", "update-ca-certificates --fresh"}},
		{KindFedora, "etc/pki/ca-trust/source/anchors", "tokenagent-local-ca.pem",
			[]string{"update-ca-trust extract", "update-ca-trust extract"}},
		{KindOpenSUSE, "etc/pki/trust/anchors", "tokenagent-local-ca.pem",
			[]string{"update-ca-certificates", "update-ca-certificates"}},
		{KindArch, "etc/ca-certificates/trust-source/anchors", "tokenagent-local-ca.crt",
			[]string{"trust extract-compat", "trust extract-compat"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			ctx := context.Background()
			calls := fakeCommands(t)
			root := t.TempDir()
			if s := systemStore(root, Options{}); s != nil {
				t.Fatalf("found %v in an empty root", s.Ref())
			}
			trust := filepath.Join(root, tc.dir)
			if err := os.MkdirAll(trust, 0o755); err != nil {
				t.Fatal(err)
			}
			s := systemStore(root, Options{})
			if s == nil || s.Ref() != (StoreRef{Kind: tc.kind, Location: trust}) {
				t.Fatalf("systemStore found %+v, want %s at %s", s, tc.kind, trust)
			}
			dir := filepath.Join(t.TempDir(), "tls")
			in, err := Setup(ctx, dir, []Store{s}, Options{}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ReadCert(filepath.Join(trust, tc.file)); err != nil {
				t.Errorf("the CA is not in %s: %v", tc.file, err)
			}
			if ok, err := s.Contains(ctx, in.CA); !ok || err != nil {
				t.Errorf("Contains = %v, %v after setup", ok, err)
			}
			loaded, err := Load(dir)
			if err != nil || !slices.Equal(loaded.State.Stores, []StoreRef{s.Ref()}) {
				t.Fatalf("recorded %+v, %v; want %v", loaded, err, s.Ref())
			}
			if err := Uninstall(ctx, dir, Options{}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(trust, tc.file)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the CA file after uninstall: %v", err)
			}
			if got := calls(); !slices.Equal(got, tc.calls) {
				t.Errorf("commands ran %q, want %q", got, tc.calls)
			}
		})
	}
}

// TestSystemStoreNeedsItsCommand: a family's directory without its
// command installed is not a store to use, unless the command is given.
func TestSystemStoreNeedsItsCommand(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no command at all
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/pki/ca-trust/source/anchors"), 0o755); err != nil {
		t.Fatal(err)
	}
	if s := systemStore(root, Options{}); s != nil {
		t.Errorf("found %v without update-ca-trust", s.Ref())
	}
	if s := systemStore(root, Options{UpdateCmd: []string{"true"}}); s == nil || s.Kind != KindFedora {
		t.Errorf("with an update command given: %+v, want the fedora store", s)
	}
}
