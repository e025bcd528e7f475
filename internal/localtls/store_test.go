package localtls

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recorder returns an update command that appends its arguments to a log,
// and a function returning how many times it ran.
func recorder(t *testing.T) ([]string, func() int) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := filepath.Join(dir, "update")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"update $*\" >> '"+log+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{script}, func() int {
		data, err := os.ReadFile(log)
		if errors.Is(err, fs.ErrNotExist) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(data), "update")
	}
}

// newNSSDB creates an empty NSS database in a temporary directory, or
// skips the test when certutil is missing (fails it under CI).
func newNSSDB(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("certutil"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: %v", ErrNoCertutil)
		}
		t.Skipf("skipping the NSS test: %v", ErrNoCertutil)
	}
	db := t.TempDir()
	if out, err := exec.Command("certutil", "-N", "--empty-password", "-d", "sql:"+db).CombinedOutput(); err != nil {
		t.Fatalf("certutil -N: %v: %s", err, out)
	}
	return db
}

func TestSetupAndUninstallDebian(t *testing.T) {
	ctx := context.Background()
	update, calls := recorder(t)
	trust := filepath.Join(t.TempDir(), "ca-certificates") // created by Install
	dir := filepath.Join(t.TempDir(), "tls")
	o := Options{UpdateCmd: update}
	store := &SystemStore{Kind: KindDebian, Dir: trust, UpdateCmd: update}

	in, err := Setup(ctx, dir, []Store{store}, o, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := store.Contains(ctx, in.CA); !ok || err != nil {
		t.Errorf("after setup Contains = %v, %v", ok, err)
	}
	if n := calls(); n != 1 {
		t.Errorf("update command ran %d times, want 1", n)
	}
	fi, err := os.Stat(in.KeyPath())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v; want mode 0600", fi, err)
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.State.Stores) != 1 || loaded.State.Stores[0] != store.Ref() || !loaded.CA.Equal(in.CA) {
		t.Errorf("loaded state %+v", loaded.State)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil {
		t.Error("a CA key file exists")
	}

	// A second setup replaces the authority: the old one leaves the store.
	again, err := Setup(ctx, dir, []Store{store}, o, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if again.CA.Equal(in.CA) {
		t.Error("second setup kept the old CA")
	}
	if ok, _ := store.Contains(ctx, in.CA); ok {
		t.Error("the old CA is still installed")
	}
	if ok, _ := store.Contains(ctx, again.CA); !ok {
		t.Error("the new CA is not installed")
	}

	if err := Uninstall(ctx, dir, o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(trust, DebianFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("trust dir file after uninstall: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state dir after uninstall: %v", err)
	}
	if n := calls(); n != 4 { // install, remove, install, remove
		t.Errorf("update command ran %d times, want 4", n)
	}
	if err := Uninstall(ctx, dir, o); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("second uninstall: %v, want ErrNotInstalled", err)
	}
}

// TestFailingStoreIsRecorded: a store that fails does not stop the others,
// and only the stores that took the CA are recorded.
func TestFailingStoreIsRecorded(t *testing.T) {
	ctx := context.Background()
	good := &SystemStore{Kind: KindDebian, Dir: t.TempDir(), UpdateCmd: []string{"true"}}
	bad := &SystemStore{Kind: KindDebian, Dir: t.TempDir(), UpdateCmd: []string{"false"}}
	dir := t.TempDir()
	in, err := Setup(ctx, dir, []Store{bad, good}, Options{UpdateCmd: []string{"true"}}, time.Now())
	if err == nil || !strings.Contains(err.Error(), bad.Dir) {
		t.Errorf("Setup error %v, want one naming %s", err, bad.Dir)
	}
	if in == nil || len(in.State.Stores) != 1 || in.State.Stores[0] != good.Ref() {
		t.Fatalf("recorded %+v, want only %v", in, good.Ref())
	}
	// An uninstall whose update command fails keeps the record for a retry.
	if err := Uninstall(ctx, dir, Options{UpdateCmd: []string{"false"}}); err == nil {
		t.Error("Uninstall with a failing update command succeeded")
	}
	if _, err := Load(dir); err != nil {
		t.Errorf("state after a failed uninstall: %v", err)
	}
}

func TestNSSStore(t *testing.T) {
	ctx := context.Background()
	db := newNSSDB(t)
	store := &NSSStore{DB: db}
	dir := t.TempDir()
	in, err := Setup(ctx, dir, []Store{store}, Options{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("certutil", "-L", "-d", "sql:"+db).CombinedOutput()
	if err != nil || !strings.Contains(string(out), Nickname) || !strings.Contains(string(out), "C,,") {
		t.Errorf("certutil -L after setup: %v\n%s", err, out)
	}
	if ok, err := store.Contains(ctx, in.CA); !ok || err != nil {
		t.Errorf("Contains = %v, %v", ok, err)
	}
	if err := Uninstall(ctx, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command("certutil", "-L", "-d", "sql:"+db).CombinedOutput()
	if err != nil || strings.Contains(string(out), Nickname) {
		t.Errorf("certutil -L after uninstall: %v\n%s", err, out)
	}
}

func TestNSSDatabases(t *testing.T) {
	home := t.TempDir()
	for _, d := range []string{".pki/nssdb", ".mozilla/firefox/abc.default", ".mozilla/firefox/nodb"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{".pki/nssdb/cert9.db", ".mozilla/firefox/abc.default/cert9.db"} {
		if err := os.WriteFile(filepath.Join(home, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := NSSDatabases(home)
	want := []string{filepath.Join(home, ".pki/nssdb"), filepath.Join(home, ".mozilla/firefox/abc.default")}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("NSSDatabases = %q, want %q", got, want)
	}
}

// TestSystemSetupReachesEveryUsersBrowsers checks that a system-wide setup
// trusts the CA in the browser databases of every user's home, not only
// in the home of whoever runs it (root, for the packages).
func TestSystemSetupReachesEveryUsersBrowsers(t *testing.T) {
	homes := t.TempDir()
	db := filepath.Join(homes, "alice", ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	created := newNSSDB(t)
	for _, f := range []string{"cert9.db", "key4.db"} {
		b, err := os.ReadFile(filepath.Join(created, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(db, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	saved := userHomes
	userHomes = []string{filepath.Join(homes, "*")}
	t.Cleanup(func() { userHomes = saved })

	has := func(sel Selection) bool {
		for _, s := range sel.Stores() {
			if s.Ref().Location == db {
				return true
			}
		}
		return false
	}
	if !has(Selection{}) {
		t.Errorf("system-wide stores lack %s", db)
	}
	if has(Selection{User: true}) {
		t.Errorf("a --user setup reaches another user's browser %s", db)
	}
}
