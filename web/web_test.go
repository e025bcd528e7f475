package web

import (
	"io/fs"
	"regexp"
	"slices"
	"testing"
)

// exported finds the names a module file exports or declares for export.
var exported = regexp.MustCompile(`(?m)^export (?:async )?(?:function|class|const|let) ([A-Za-z_$][\w$]*)`)

// TestDeclarationsMatch checks that tokenagent.d.ts declares what
// tokenagent.js exports, no more and no less, and every method of the
// Agent class the module defines.
func TestDeclarationsMatch(t *testing.T) {
	js, err := fs.ReadFile(Files, "tokenagent.js")
	if err != nil {
		t.Fatal(err)
	}
	dts, err := fs.ReadFile(Files, "tokenagent.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	names := func(b []byte) []string {
		var out []string
		for _, m := range exported.FindAllSubmatch(b, -1) {
			out = append(out, string(m[1]))
		}
		slices.Sort(out)
		return out
	}
	if got, want := names(dts), names(js); !slices.Equal(got, want) || !slices.Contains(want, "connect") {
		t.Errorf("tokenagent.d.ts declares %v; tokenagent.js exports %v", got, want)
	}
	for _, member := range []string{"call", "on", "close", "connected", "url"} {
		if !regexp.MustCompile(`(?m)^  (?:get )?`+member+`\(`).Match(js) && !regexp.MustCompile(`this\.`+member+` =`).Match(js) {
			t.Errorf("tokenagent.js: Agent has no %s", member)
		}
		if !regexp.MustCompile(`(?m)^  (?:readonly )?` + member + `[(<:]`).Match(dts) {
			t.Errorf("tokenagent.d.ts: Agent declares no %s", member)
		}
	}
}
