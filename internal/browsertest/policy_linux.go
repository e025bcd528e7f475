package browsertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"
)

// policyDir is where Chromium on Linux reads its policies, compiled in:
// no flag points it elsewhere.
const policyDir = "/etc/chromium"

// ManagedPolicy returns the option that starts the browser with files
// (name → JSON) as its managed policy files, and no others. Chromium reads
// managed policies from /etc/chromium/policies/managed/ and cannot be told
// another place, so the browser runs in a private mount namespace in which
// a temporary directory is mounted over /etc/chromium: the machine's
// /etc and every other browser stay untouched. That needs root (or
// CAP_SYS_ADMIN) and unshare(1); without them the test is skipped, or
// fails under CI.
func ManagedPolicy(t testing.TB, files map[string][]byte) chromedp.ExecAllocatorOption {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err == nil {
		err = exec.Command(unshare, "--mount", "--propagation", "private", "true").Run()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("a private mount namespace (unshare --mount, as root) is needed to give Chromium a managed policy, and CI is set: %v", err)
		}
		t.Skipf("no private mount namespace (unshare --mount needs root): %v; Chromium reads managed policies only from %s/policies/managed", err, policyDir)
	}
	dir := t.TempDir()
	managed := filepath.Join(dir, "policies", "managed")
	if err := os.MkdirAll(managed, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(managed, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// What Debian keeps in /etc/chromium besides the policies.
	if prefs, err := os.ReadFile(filepath.Join(policyDir, "master_preferences")); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "master_preferences"), prefs, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
		// unshare and sh exec in turn, so the browser keeps the PID that
		// chromedp started and stops.
		args := []string{unshare, "--mount", "--propagation", "private",
			"sh", "-c", `mount --bind "$0" ` + policyDir + ` && exec "$@"`, dir, cmd.Path}
		cmd.Args = append(args, cmd.Args[1:]...)
		cmd.Path = unshare
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // as chromedp's own default
	})
}
