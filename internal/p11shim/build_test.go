package p11shim

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBuildWithEmptyModuleCache builds the shim as a fresh clone on a fresh
// machine does: with a Go module cache that holds nothing, so the build
// script must fetch the PKCS#11 headers' module itself.
func TestBuildWithEmptyModuleCache(t *testing.T) {
	for _, tool := range []string{"cc", "go", "nm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s: %v (CI is set, so this is not skipped)", tool, err)
			}
			t.Skipf("%s: %v", tool, err)
		}
	}
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "testdata", "p11shim", "build.sh")
	out := t.TempDir()
	cmd := exec.Command("sh", script, out)
	// -modcacherw: the module cache is read-only otherwise, and the test's
	// temporary directory could not be removed.
	cmd.Env = append(os.Environ(), "GOMODCACHE="+t.TempDir(), "GOFLAGS=-modcacherw")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh with an empty module cache: %v\n%s", err, msg)
	}
	syms, err := exec.Command("nm", "-D", "--defined-only", filepath.Join(out, "libp11shim.so")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(syms), " C_GetFunctionList\n") {
		t.Errorf("the built shim does not export C_GetFunctionList:\n%s", syms)
	}
}
