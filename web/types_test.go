package web_test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/web"
	"github.com/tokenagent/tokenagent/ws"
)

// expectError is a line of testdata/typecheck.ts that marks the next line
// as one tsc must reject, with the text its error must hold.
var expectError = regexp.MustCompile(`^\s*// @ts-expect-error: (.+)$`)

// tscError is the first line of one of tsc's errors: file(line,col): error TSn: text.
var tscError = regexp.MustCompile(`^testdata/typecheck\.ts\((\d+),\d+\): (error TS\d+: .*)$`)

// TestTypesCatchMistakes type-checks testdata/typecheck.ts against
// tokenagent.d.ts with tsc --strict: the correct calls of every method
// compile, and each line marked @ts-expect-error (a misspelt method, a
// misspelt param, a field the agent never sends, …) fails for the reason
// its mark names. tsc rejects a mark whose line compiles, so the first run
// proves the lines fail; the second, without the marks, proves why. It
// also checks that the declarations' method map has exactly the methods of
// docs/PROTOCOL.md section 4, and that every PIN-taking method takes
// confirmFinalTry.
func TestTypesCatchMistakes(t *testing.T) {
	tool(t, "node", "install Node.js")
	tsc := tool(t, "tsc", "apt-get install node-typescript")
	work := t.TempDir()
	for _, name := range []string{"tokenagent.js", "tokenagent.d.ts"} {
		b, err := fs.ReadFile(web.Files, name)
		if err != nil {
			t.Fatal(err)
		}
		write(t, work, name, string(b))
	}
	if err := os.Mkdir(filepath.Join(work, "testdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile(filepath.Join("testdata", "typecheck.ts"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, work, "testdata/typecheck.ts", string(source))
	write(t, work, "testdata/contract.ts", contractCheck(t))
	write(t, work, "tsconfig.json", `{"compilerOptions": {"strict": true, "noEmit": true, "target": "es2022",
		"module": "es2022", "moduleResolution": "node", "lib": ["es2022", "dom"], "types": []},
		"files": ["testdata/typecheck.ts", "testdata/contract.ts"]}`)
	runCmd(t, work, nil, tsc, "-p", ".")

	// Without the marks: exactly the marked lines fail, each as its mark says.
	lines := strings.Split(string(source), "\n")
	want := map[int]string{} // line (from 1) → the text its error must hold
	for i, line := range lines {
		if m := expectError.FindStringSubmatch(line); m != nil {
			want[i+2] = m[1]
			lines[i] = ""
		}
	}
	if len(want) < 10 {
		t.Fatalf("read %d @ts-expect-error marks from testdata/typecheck.ts", len(want))
	}
	write(t, work, "testdata/typecheck.ts", strings.Join(lines, "\n"))
	cmd := exec.Command(tsc, "-p", ".")
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("tsc accepted typecheck.ts without its @ts-expect-error marks:\n%s", out)
	}
	got := tscErrors(t, string(out))
	for line, text := range want {
		if !strings.Contains(got[line], text) {
			t.Errorf("typecheck.ts:%d: want an error holding %q, tsc said %q", line, text, got[line])
		}
		delete(got, line)
	}
	for line, msg := range got {
		t.Errorf("typecheck.ts:%d: an error on a line not marked: %s", line, msg)
	}
}

// tscErrors reads tsc's output into the text of its errors by line, each
// with the lines that elaborate it.
func tscErrors(t *testing.T, out string) map[int]string {
	t.Helper()
	got := map[int]string{}
	last := 0
	for _, line := range strings.Split(out, "\n") {
		if m := tscError.FindStringSubmatch(line); m != nil {
			last, _ = strconv.Atoi(m[1])
			got[last] += m[2] + "\n"
		} else if strings.HasPrefix(line, " ") && last != 0 {
			got[last] += strings.TrimSpace(line) + "\n"
		} else if strings.TrimSpace(line) != "" {
			t.Errorf("tsc: %s", line) // an error in another file, or tsc's own
		}
	}
	return got
}

// contractCheck returns a TypeScript file that compiles only when the
// declarations' Methods has exactly the methods the agent serves, which
// ws's TestMethodTableIsTheContract holds to docs/PROTOCOL.md section 4.
func contractCheck(t *testing.T) string {
	t.Helper()
	var names []string
	for _, m := range ws.Methods() {
		names = append(names, strconv.Quote(m))
	}
	return fmt.Sprintf(`import type { Methods } from "../tokenagent.js";
const contract = [%s] as const;
type Contract = (typeof contract)[number];
type Undeclared = Exclude<Contract, keyof Methods>;
type NotInContract = Exclude<keyof Methods, Contract>;
export const everyMethodDeclared: [Undeclared] extends [never] ? true : Undeclared = true;
export const onlyContractMethods: [NotInContract] extends [never] ? true : NotInContract = true;
`, strings.Join(names, ", "))
}
