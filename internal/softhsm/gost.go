package softhsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The SoftHSM built with GOST R 34.10-2012 support (Debian's is built
// without): scripts/softhsm-gost.sh builds it from Debian's source into
// build/softhsm-gost of the repository, or into $TOKENAGENT_SOFTHSM_GOST.
const gostDirEnv = "TOKENAGENT_SOFTHSM_GOST"

// ErrGOSTUnavailable reports that the GOST SoftHSM is not built and could
// not be; the error says why.
var ErrGOSTUnavailable = errors.New("GOST SoftHSM unavailable")

// GOSTBuild locates the GOST SoftHSM, building it first when it is missing
// (about three minutes on two cores; concurrent callers build it once), and
// returns its module and softhsm2-util.
func GOSTBuild() (module, util string, err error) {
	// This file is internal/softhsm/gost.go in the repository.
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", "", fmt.Errorf("locating the repository: %w", ErrGOSTUnavailable)
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := os.Getenv(gostDirEnv)
	if dir == "" {
		dir = filepath.Join(root, "build", "softhsm-gost")
	}
	module = filepath.Join(dir, "lib", "softhsm", "libsofthsm2.so")
	util = filepath.Join(dir, "bin", "softhsm2-util")
	if built(module, util) {
		return module, util, nil
	}
	// The script writes why it could not build to FAILED and exits 0,
	// unless CI is set (it reads the variable itself).
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "softhsm-gost.sh"), dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("building the GOST SoftHSM: %w: %s", err, strings.TrimSpace(out.String()))
	}
	if built(module, util) {
		return module, util, nil
	}
	reason, _ := os.ReadFile(filepath.Join(dir, "FAILED"))
	return "", "", fmt.Errorf("%w: %s", ErrGOSTUnavailable, strings.TrimSpace(string(reason)))
}

func built(paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// NewGOST is New for the GOST SoftHSM: an Env in t.TempDir() whose Module
// and Util are the GOST build's. It skips the test with the reason when the
// build or the stock SoftHSM is unavailable, except under CI, where that
// fails it.
func NewGOST(t testing.TB) *Env {
	t.Helper()
	// The stock SoftHSM's tools (pkcs11-tool among them) serve this Env
	// too, and NewEnv looks for its module.
	require(t, CheckInstalled())
	module, util, err := GOSTBuild()
	require(t, err)
	env, err := NewEnv(t.TempDir())
	if err != nil {
		t.Fatalf("softhsm: %v", err)
	}
	env.Module, env.Util = module, util
	t.Setenv(confEnv, env.ConfPath)
	return env
}
