// Package p11shim drives the fault-injecting PKCS#11 module of
// testdata/p11shim from Go tests: it finds (or builds) the library, points it
// at SoftHSM, writes its control file and reads its call log. It is for tests
// only; the shim's README describes the control file.
package p11shim

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tokenagent/tokenagent/internal/atomicfile"
)

// EnvPath names the variable holding the built shim's path (make test sets it).
const EnvPath = "TOKENAGENT_P11SHIM"

var build struct {
	once sync.Once
	path string
	err  error
}

// Path returns the shim library: $TOKENAGENT_P11SHIM when it exists, else one
// built once per test process. Under CI a missing shim fails the test.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvPath); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		} else if os.Getenv("CI") != "" {
			t.Fatalf("p11shim: %s=%s: %v (run make shim)", EnvPath, p, err)
		}
	}
	build.once.Do(func() {
		_, self, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(self), "..", "..", "testdata", "p11shim", "build.sh")
		dir, err := os.MkdirTemp("", "tokenagent-p11shim-")
		if err != nil {
			build.err = err
			return
		}
		out, err := exec.Command("sh", script, dir).CombinedOutput()
		if err != nil {
			build.err = &buildError{err: err, out: string(out)}
			return
		}
		build.path = filepath.Join(dir, "libp11shim.so")
	})
	if build.err != nil {
		t.Fatalf("p11shim: building: %v", build.err)
	}
	return build.path
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// Control is the shim's control file and call log for one test.
type Control struct {
	file, log string
}

// Use points the shim at the real module target and gives it a fresh,
// empty control file and call log. The shim reads these settings when the
// module is loaded, so call Use before opening it.
func Use(t testing.TB, target string) *Control {
	t.Helper()
	dir := t.TempDir()
	c := &Control{file: filepath.Join(dir, "control"), log: filepath.Join(dir, "calls.log")}
	t.Setenv("P11SHIM_TARGET", target)
	t.Setenv("P11SHIM_CONTROL", c.file)
	t.Setenv("P11SHIM_LOG", c.log)
	c.Set(t)
	return c
}

// Set replaces the control file with lines, atomically, since other
// goroutines may be calling the module meanwhile.
func (c *Control) Set(t testing.TB, lines ...string) {
	t.Helper()
	if err := atomicfile.Write(c.file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Calls returns the PKCS#11 functions called since the last ClearCalls.
func (c *Control) Calls(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(c.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// Called counts the calls of function fn since the last ClearCalls.
func (c *Control) Called(t testing.TB, fn string) int {
	t.Helper()
	n := 0
	for _, call := range c.Calls(t) {
		if call == fn {
			n++
		}
	}
	return n
}

// ClearCalls empties the call log.
func (c *Control) ClearCalls(t testing.TB) {
	t.Helper()
	if err := os.Truncate(c.log, 0); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}
