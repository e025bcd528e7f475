package softhsm

import (
	"os"
	"testing"
)

// New creates an Env in t.TempDir() and sets SOFTHSM2_CONF for the whole
// process with t.Setenv, so a test using it cannot be parallel. Create the
// tokens before opening the PKCS#11 module: the module only sees tokens that
// exist at its C_Initialize.
//
// When SoftHSM or its tools are missing, New skips the test, except when the
// CI variable is set: there a missing dependency is a broken machine, and a
// silent skip would pass the run without testing anything.
func New(t testing.TB) *Env {
	t.Helper()
	require(t, CheckInstalled())
	env, err := NewEnv(t.TempDir())
	if err != nil {
		t.Fatalf("softhsm: %v", err)
	}
	t.Setenv(confEnv, env.ConfPath)
	return env
}

// require skips the test when err says something is missing, or fails it
// under CI.
func require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("softhsm: %v (CI is set, so this is not skipped)", err)
	}
	t.Skipf("softhsm: %v", err)
}
