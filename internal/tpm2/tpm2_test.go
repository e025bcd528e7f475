package tpm2_test

import (
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/internal/tpm2"
)

func TestTokensOnASoftwareTPM(t *testing.T) {
	p := tpm2.New(t)
	for _, label := range []string{"first", "second"} {
		if err := p.InitToken(label, "so-pin-1", "user-pin-1"); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		if _, err := p.P11Tool([]string{"user-pin-1"}, "--token-label", "second", "--login", "--pin", "user-pin-1", "-O"); err != nil {
			t.Fatalf("%s: logging in: %v", when, err)
		}
		list, err := p.P11Tool(nil, "-L")
		if err != nil || !strings.Contains(list, "token label        : first") || !strings.Contains(list, "token label        : second") {
			t.Fatalf("%s: tokens listed: %s %v", when, list, err)
		}
	}
	check("made")
	p.Restart()
	check("after a restart")
	if _, err := p.P11Tool([]string{"wrong"}, "--token-label", "first", "--login", "--pin", "wrong", "-O"); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("a wrong PIN: %v, want an error without the PIN", err)
	}
}
