package web_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/web"
)

// tool finds a command on PATH; without it the test is skipped, or fails
// under CI.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found, and CI is set: %v (%s, or make deps)", name, err, pkg)
		}
		t.Skipf("%s not found (%v): %s, or make deps", name, err, pkg)
	}
	return p
}

// runCmd runs a command in dir and fails the test when it fails.
func runCmd(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// consumer is a TypeScript program of a portal that uses the package. The
// @ts-expect-error lines fail the check if the declarations stop catching
// the mistakes they mark.
const consumer = `import { connect, localNetworkPermission, AgentError, LOCAL_NETWORK_DENIED, AGENT_UNREACHABLE } from "@tokenagent/client";
import type { LocalNetworkPermission, Token, Signature } from "@tokenagent/client";

export async function portal(): Promise<string> {
  const state: LocalNetworkPermission = await localNetworkPermission();
  if (state === "denied") return "allow it in the site settings";
  try {
    const agent = await connect(undefined, { connectTimeout: 5000, reconnect: true });
    const { tokens } = await agent.call("tokens.list", {});
    const first: Token | undefined = tokens[0];
    if (!first) return "no token";
    const sig: Signature = await agent.call("sign", { token: first.id, pin: "1234", cert: "01", data: "aGk=", format: "cms" });
    const consented: Signature = await agent.call("sign", { token: first.id, cert: "01", data: "aGk=", consent: { description: "Contract 42" } });
    // @ts-expect-error: the agent's URL is a string
    await connect(24321);
    // @ts-expect-error: a token's label is a string
    const n: number = first.label;
    agent.close();
    return sig.signature + consented.signature + n;
  } catch (err) {
    if (err instanceof AgentError && (err.reason === LOCAL_NETWORK_DENIED || err.reason === AGENT_UNREACHABLE)) {
      return err.data?.agentRunning ? "origin not allowed" : String(err.data?.permission);
    }
    throw err;
  }
}
`

// TestNPMPackage packs the client with npm pack, installs the tarball into
// a scratch project, checks that it holds the very files the agent embeds,
// that Node imports it, and that a TypeScript portal using it type-checks
// with tsc (and that tsc catches the mistakes the declarations should).
func TestNPMPackage(t *testing.T) {
	npm := tool(t, "npm", "install Node.js with npm")
	node := tool(t, "node", "install Node.js")
	tsc := tool(t, "tsc", "apt-get install node-typescript")
	work := t.TempDir()
	// Its own cache and no registry: nothing here needs the network.
	env := []string{"npm_config_cache=" + filepath.Join(work, "npm-cache"), "npm_config_offline=true",
		"npm_config_audit=false", "npm_config_fund=false", "npm_config_update_notifier=false"}

	tarball := strings.TrimSpace(lastLine(runCmd(t, ".", env, npm, "pack", "--pack-destination", work)))
	list := runCmd(t, work, nil, "tar", "-tzf", tarball)
	files := strings.Fields(list)
	slices.Sort(files)
	if want := []string{"package/README.md", "package/package.json", "package/tokenagent.d.ts", "package/tokenagent.js"}; !slices.Equal(files, want) {
		t.Errorf("the tarball holds %v, want %v", files, want)
	}

	project := filepath.Join(work, "portal")
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, project, "package.json", `{"name": "portal", "private": true, "type": "module"}`)
	write(t, project, "tsconfig.json", `{"compilerOptions": {"strict": true, "noEmit": true, "target": "es2022",
		"module": "node16", "moduleResolution": "node16", "lib": ["es2022", "dom"], "types": []}, "files": ["portal.ts"]}`)
	write(t, project, "portal.ts", consumer)
	runCmd(t, project, env, npm, "install", filepath.Join(work, tarball))

	installed := filepath.Join(project, "node_modules", "@tokenagent", "client")
	for _, name := range []string{"tokenagent.js", "tokenagent.d.ts"} {
		got, err := os.ReadFile(filepath.Join(installed, name))
		if err != nil {
			t.Fatal(err)
		}
		embedded, err := fs.ReadFile(web.Files, name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, embedded) {
			t.Errorf("the package's %s differs from the one the agent embeds", name)
		}
	}
	exports := runCmd(t, project, nil, node, "--input-type=module", "-e",
		`import * as m from "@tokenagent/client"; console.log(Object.keys(m).sort().join(" "))`)
	if want := "AGENT_UNREACHABLE Agent AgentError CLOSED CONSENT_UNAVAILABLE DEFAULT_URL DIGEST_MEMORY_LIMIT LOCAL_NETWORK_DENIED TIMEOUT commonName connect consentURL digestOf errorMessage localNetworkPermission messages pickCertificates"; strings.TrimSpace(exports) != want {
		t.Errorf("node imports %q, want %q", strings.TrimSpace(exports), want)
	}
	t.Logf("tsc %s", strings.TrimSpace(runCmd(t, project, nil, tsc, "--version")))
	runCmd(t, project, nil, tsc, "-p", ".")

	// A mistake the declarations must catch, so that the check above is not
	// vacuous.
	write(t, project, "portal.ts", consumer+"\nexport const wrong: number = LOCAL_NETWORK_DENIED;\n")
	cmd := exec.Command(tsc, "-p", ".")
	cmd.Dir = project
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "TS2322") {
		t.Errorf("tsc accepted a string constant as a number: %v\n%s", err, out)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
