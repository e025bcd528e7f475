package ws

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"
)

// leakSettle bounds how long a leak check waits for what a finished
// scenario leaves winding down: a request's goroutine writing its last
// response, a subprocess's pipes, a closed watcher's goroutine. A leak does
// not wind down, so the bound is generous and costs nothing when all is well.
const leakSettle = 10 * time.Second

// resources is what a leak shows in: goroutines and open file descriptors.
type resources struct {
	goroutines int
	fds        map[string]string // /proc/self/fd entry → what it is; nil without /proc
}

func countResources(t *testing.T) resources {
	t.Helper()
	r := resources{goroutines: runtime.NumGoroutine()}
	entries, err := os.ReadDir("/proc/self/fd")
	if os.IsNotExist(err) {
		return r // not Linux: goroutines only
	}
	if err != nil {
		t.Fatalf("listing open files: %v", err)
	}
	r.fds = map[string]string{}
	for _, e := range entries {
		// The entry of the directory being read is gone by now: no target.
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil {
			r.fds[e.Name()] = target
		}
	}
	return r
}

// checkLeaks counts the goroutines and open files now and returns a function
// that waits, within leakSettle, for the counts to be back at most there.
// When they are not, it fails the test with every goroutine's stack and the
// files opened meanwhile. It logs the counts either way, for the record.
func checkLeaks(t *testing.T) func() {
	t.Helper()
	before := countResources(t)
	return func() {
		t.Helper()
		deadline := time.Now().Add(leakSettle)
		after := countResources(t)
		for (after.goroutines > before.goroutines || len(after.fds) > len(before.fds)) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			after = countResources(t)
		}
		t.Logf("goroutines %d before, %d after; open files %d before, %d after",
			before.goroutines, after.goroutines, len(before.fds), len(after.fds))
		if after.goroutines > before.goroutines {
			var stacks strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
			t.Errorf("%d goroutines leaked:\n%s", after.goroutines-before.goroutines, stacks.String())
		}
		if len(after.fds) > len(before.fds) {
			var opened []string
			for fd, target := range after.fds {
				if before.fds[fd] != target {
					opened = append(opened, fd+" → "+target)
				}
			}
			slices.Sort(opened)
			t.Errorf("%d open files leaked; opened meanwhile:\n%s", len(after.fds)-len(before.fds), strings.Join(opened, "\n"))
		}
	}
}
