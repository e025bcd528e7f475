package openssl

import (
	"os"
	"strings"
	"sync"
	"testing"
)

// gostEngine is whether openssl loads the GOST engine (Debian's
// libengine-gost-openssl), asked once per process.
var gostEngine = sync.OnceValues(func() (string, bool) {
	return runQuiet("engine", "-t", "gost")
})

// RunGOST runs the openssl command cmd with the GOST engine loaded
// (openssl cmd -engine gost args...), in dir. A missing engine fails the
// test under CI and skips it elsewhere.
func RunGOST(t testing.TB, dir, cmd string, args ...string) (string, bool) {
	t.Helper()
	RequireGOST(t)
	out, ok := Run(t, dir, append([]string{cmd, "-engine", "gost"}, args...)...)
	// Every run says so first; it is noise in a test's failure message.
	return strings.TrimPrefix(out, "Engine \"gost\" set.\n"), ok
}

// RequireGOST skips the test, or fails it under CI, unless openssl has the
// GOST engine.
func RequireGOST(t testing.TB) {
	t.Helper()
	Run(t, "", "version") // skips or fails without openssl
	if out, ok := gostEngine(); !ok {
		msg := "openssl has no GOST engine (Debian package libengine-gost-openssl): " + strings.TrimSpace(out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this is not skipped)")
		}
		t.Skip(msg)
	}
}
