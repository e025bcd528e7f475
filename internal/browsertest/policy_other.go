//go:build !linux

package browsertest

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// ManagedPolicy is for Linux only, where the tests mount a policy
// directory over /etc/chromium; elsewhere the test is skipped.
func ManagedPolicy(t testing.TB, _ map[string][]byte) chromedp.ExecAllocatorOption {
	t.Skip("managed policies are tested on Linux only")
	return nil
}
