package browsertest

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Visible returns the options that run the browser with a window, on a
// virtual X display (Xvfb) that lives as long as the test: headless
// Chromium answers permission questions by itself (it denies them), and a
// test that needs the question to stay open needs a window. Without Xvfb
// the test is skipped, or fails under CI.
func Visible(t testing.TB) []chromedp.ExecAllocatorOption {
	t.Helper()
	xvfb, err := exec.LookPath("Xvfb")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Xvfb not found, and CI is set: %v (apt-get install xvfb, or make deps)", err)
		}
		t.Skipf("Xvfb not found (%v): install xvfb, or make deps", err)
	}
	// -displayfd: Xvfb picks a free display and writes its number once it
	// accepts connections.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xvfb, "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	display := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		r.Close()
		display <- strings.TrimSpace(line)
	}()
	var n string
	select {
	case n = <-display:
	case <-time.After(30 * time.Second):
		t.Fatal("Xvfb did not report its display within 30 s")
	}
	if n == "" {
		t.Fatal("Xvfb exited without a display")
	}
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("headless", false),
		chromedp.Flag("ozone-platform", "x11"),
		chromedp.Env("DISPLAY=:" + n),
	}
}
