// Package openssl runs the openssl command line tool as an independent
// verifier of what the agent produces: signatures, CSRs and CMS. It is for
// tests only.
package openssl

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Run runs openssl with args in dir and returns its combined output and
// whether it exited 0. A missing openssl fails the test under CI and skips
// it elsewhere.
func Run(t testing.TB, dir string, args ...string) (string, bool) {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("openssl: %v (CI is set, so this is not skipped)", err)
		}
		t.Skipf("openssl: %v", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err == nil
}

// runQuiet runs openssl outside any test, for checks made once.
func runQuiet(args ...string) (string, bool) {
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err == nil
}

// WriteFiles writes name → content files into dir.
func WriteFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
