package installer

import (
	"bytes"
	"debug/pe"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// The version TestPackages builds with, and what the packages make of it:
// a post-release build, whose "-" must not reach the package versions.
const (
	testVersion    = "1.2.3-4-gdeadbee"
	testPkgVersion = "1.2.3.4.gdeadbee"
	testMSIVersion = "1.2.3"
)

// TestPackages builds the .deb, .rpm and .msi with scripts/package.sh (what
// `make package` runs) into a temporary directory and checks them with the
// tools of the systems they are for: dpkg-deb and dpkg -x, systemd-analyze,
// rpm, msiinfo. Building takes a minute or two (two binaries, one of them
// cross-compiled), so it runs under CI, where `make test` has installed the
// tools (scripts/deps.sh) and a missing one fails the test, and when
// TOKENAGENT_PACKAGE_TEST=1; otherwise it skips.
func TestPackages(t *testing.T) {
	ci := os.Getenv("CI") != ""
	if !ci && os.Getenv("TOKENAGENT_PACKAGE_TEST") != "1" {
		t.Skip("packages not built: set TOKENAGENT_PACKAGE_TEST=1 (or CI) to build and check them")
	}
	need := func(tool, pkg string) string {
		t.Helper()
		path, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s not found (apt-get install %s, or make deps)", tool, pkg)
		}
		return path
	}
	need("dpkg-deb", "dpkg")
	need("msiinfo", "msitools")

	work := t.TempDir()
	dist := filepath.Join(work, "dist")
	build := filepath.Join(work, "build")
	cmd := exec.Command("bash", "../scripts/package.sh", dist)
	cmd.Env = append(os.Environ(), "VERSION="+testVersion, "BUILD="+build)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/package.sh: %v\n%s", err, out)
	}
	base := filepath.Join(dist, "tokenagent_"+testPkgVersion+"_amd64")

	t.Run("deb", func(t *testing.T) { checkDeb(t, base+".deb", filepath.Join(work, "root")) })
	t.Run("rpm", func(t *testing.T) {
		if _, err := exec.LookPath("rpm"); err != nil {
			if ci {
				t.Fatal("rpm not found (apt-get install rpm, or make deps)")
			}
			t.Skip("rpm not installed (apt-get install rpm); .rpm not checked")
		}
		checkRPM(t, base+".rpm")
	})
	t.Run("msi", func(t *testing.T) { checkMSI(t, base+".msi") })
	t.Run("exe", func(t *testing.T) {
		f, err := pe.Open(filepath.Join(build, "windows_amd64", "tokenagent.exe"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
			t.Errorf("tokenagent.exe is for machine %#x, want amd64", f.Machine)
		}
	})
}

// output runs a command and returns its standard output, failing the test
// when it fails.
func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out)
}

// containsAll reports each of want that text lacks.
func containsAll(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// Lines the maintainer scripts must have, whatever the package format.
var (
	postinstallWants = []string{
		"if [ -d /run/systemd/system ]; then",
		"systemctl daemon-reload",
		"systemctl enable --now tokenagent.service",
		"systemctl try-restart tokenagent.service",
		"if ! /usr/bin/tokenagent tls setup; then",
	}
	preremoveWants = []string{
		"systemctl disable --now tokenagent.service",
		"if ! /usr/bin/tokenagent tls remove; then",
	}
)

func checkDeb(t *testing.T, deb, root string) {
	// Contents: paths and modes.
	contents := output(t, "dpkg-deb", "-c", deb)
	files := map[string]string{} // path → mode
	for _, l := range strings.Split(strings.TrimSpace(contents), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c line %q", l)
		}
		files[f[len(f)-1]] = f[0]
	}
	for path, mode := range map[string]string{
		"./usr/bin/tokenagent":                                          "-rwxr-xr-x",
		"./lib/systemd/system/tokenagent.service":                       "-rw-r--r--",
		"./usr/lib/systemd/user/tokenagent.service":                     "-rw-r--r--",
		"./etc/tokenagent/config.toml":                                  "-rw-r--r--",
		"./usr/share/doc/tokenagent/browser-policy/chromium-linux.json": "-rw-r--r--",
		"./usr/share/doc/tokenagent/browser-policy/windows.reg":         "-rw-r--r--",
	} {
		if files[path] != mode {
			t.Errorf("%s: mode %q, want %q\n%s", path, files[path], mode, contents)
		}
	}
	fields := output(t, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends")
	containsAll(t, "control", fields, "Package: tokenagent", "Version: "+testPkgVersion+"-1",
		"Architecture: amd64", "Depends: pcscd, libpcsclite1")

	// Maintainer scripts and conffiles.
	control := filepath.Join(t.TempDir(), "DEBIAN")
	output(t, "dpkg-deb", "-e", deb, control)
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(control, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := strings.TrimSpace(read("conffiles")); got != "/etc/tokenagent/config.toml" {
		t.Errorf("conffiles = %q, want only /etc/tokenagent/config.toml", got)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		output(t, "sh", "-n", filepath.Join(control, s))
	}
	containsAll(t, "postinst", read("postinst"), postinstallWants...)
	containsAll(t, "prerm", read("prerm"), append(preremoveWants, "remove | 0)")...)
	containsAll(t, "postrm", read("postrm"), "rm -rf /var/lib/tokenagent")

	// Installed into a throwaway root: the files are the ones of installer/.
	output(t, "dpkg", "-x", deb, root)
	for path, want := range map[string]string{
		"lib/systemd/system/tokenagent.service":                         SystemdUnit,
		"usr/lib/systemd/user/tokenagent.service":                       SystemdUserUnit,
		"etc/tokenagent/config.toml":                                    readFile(t, "package/config.toml"),
		"usr/share/doc/tokenagent/browser-policy/chromium-linux.json":   readFile(t, "browserpolicy/chromium-linux.json"),
		"usr/share/doc/tokenagent/browser-policy/firefox-policies.json": readFile(t, "browserpolicy/firefox-policies.json"),
		"usr/share/doc/tokenagent/browser-policy/macos.mobileconfig":    readFile(t, "browserpolicy/macos.mobileconfig"),
		"usr/share/doc/tokenagent/browser-policy/README.md":             readFile(t, "browserpolicy/README.md"),
	} {
		if got := readFile(t, filepath.Join(root, path)); got != want {
			t.Errorf("/%s differs from installer/'s", path)
		}
	}
	bin := filepath.Join(root, "usr/bin/tokenagent")
	containsAll(t, "tokenagent version", output(t, bin, "version"), "tokenagent "+testVersion+" ")

	checkDefaultConfig(t, filepath.Join(root, "etc/tokenagent/config.toml"))

	// The system unit as installed, with ExecStart on the installed binary.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed; installed unit not verified")
		return
	}
	unit := strings.Replace(SystemdUnit, "ExecStart=/usr/bin/tokenagent ", "ExecStart="+bin+" ", 1)
	unitPath := filepath.Join(t.TempDir(), "tokenagent.service")
	if err := os.WriteFile(unitPath, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", unitPath)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDefaultConfig checks the packages' default config and maintainer
// scripts without building anything.
func TestDefaultConfig(t *testing.T) {
	checkDefaultConfig(t, "package/config.toml")
	for _, s := range []string{"postinstall.sh", "preremove.sh", "postremove.sh"} {
		output(t, "sh", "-n", filepath.Join("package", s))
	}
}

// checkDefaultConfig checks that the config at path parses and sets
// nothing but allowed_origins = [], the defaults being comments.
func checkDefaultConfig(t *testing.T, path string) {
	t.Helper()
	var cfg map[string]any
	if err := toml.Unmarshal([]byte(readFile(t, path)), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg["allowed_origins"]; len(cfg) != 1 || !ok {
		t.Errorf("%s sets %v, want only allowed_origins", path, slices.Sorted(maps.Keys(cfg)))
	}
	if o, ok := cfg["allowed_origins"].([]any); !ok || len(o) != 0 {
		t.Errorf("%s: allowed_origins = %#v, want []", path, cfg["allowed_origins"])
	}
	for _, key := range []string{"listen", "modules", "allow_no_origin", "max_connections",
		"max_message_bytes", "renew_before_days", "poll_interval", "audit_log"} {
		if !strings.Contains(readFile(t, path), "\n#"+key+" = ") {
			t.Errorf("%s lacks the commented default of %s", path, key)
		}
	}
}

func checkRPM(t *testing.T, rpm string) {
	list := strings.Fields(output(t, "rpm", "-qpl", rpm))
	want := []string{
		"/etc/tokenagent/config.toml",
		"/usr/bin/tokenagent",
		"/usr/lib/systemd/system/tokenagent.service",
		"/usr/lib/systemd/user/tokenagent.service",
		"/usr/share/doc/tokenagent/browser-policy/README.md",
		"/usr/share/doc/tokenagent/browser-policy/chromium-linux.json",
		"/usr/share/doc/tokenagent/browser-policy/firefox-policies.json",
		"/usr/share/doc/tokenagent/browser-policy/macos.mobileconfig",
		"/usr/share/doc/tokenagent/browser-policy/windows.reg",
	}
	if !slices.Equal(list, want) {
		t.Errorf("rpm -qpl = %q, want %q", list, want)
	}
	containsAll(t, "rpm -qpR", output(t, "rpm", "-qpR", rpm), "pcsc-lite\n", "pcsc-lite-libs\n")
	containsAll(t, "rpm file flags",
		output(t, "rpm", "-qp", "--qf", `[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms}\n]`, rpm),
		"/etc/tokenagent/config.toml cn -rw-r--r--\n", "/usr/bin/tokenagent  -rwxr-xr-x\n")
	containsAll(t, "rpm version", output(t, "rpm", "-qp", "--qf", `%{VERSION}-%{RELEASE}`, rpm), testPkgVersion+"-1")
	scripts := output(t, "rpm", "-qp", "--scripts", rpm)
	containsAll(t, "rpm scripts", scripts, append(append([]string{
		"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet",
	}, postinstallWants...), preremoveWants...)...)
}

// msiTable returns the rows of an MSI table, without its three header
// lines, each split into its columns.
func msiTable(t *testing.T, msi, table string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(output(t, "msiinfo", "export", msi, table), "\r\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("msiinfo export %s: %q", table, lines)
	}
	var rows [][]string
	for _, l := range lines[3:] {
		rows = append(rows, strings.Split(strings.TrimRight(l, "\r"), "\t"))
	}
	return rows
}

func checkMSI(t *testing.T, msi string) {
	// ServiceInstall: ServiceInstall Name DisplayName ServiceType StartType
	// ErrorControl LoadOrderGroup Dependencies StartName Password Arguments
	// Component_ Description.
	si := msiTable(t, msi, "ServiceInstall")
	if len(si) != 1 || len(si[0]) != 13 {
		t.Fatalf("ServiceInstall rows: %q", si)
	}
	row := si[0]
	for i, want := range map[int]string{
		1:  "tokenagent",
		3:  "16", // SERVICE_WIN32_OWN_PROCESS
		4:  "2",  // SERVICE_AUTO_START
		8:  "LocalSystem",
		10: `run --config "[CommonAppDataFolder]tokenagent\config.toml"`,
		11: "TokenagentExe",
	} {
		if row[i] != want {
			t.Errorf("ServiceInstall column %d = %q, want %q (row %q)", i, row[i], want, row)
		}
	}
	// ServiceControl: ServiceControl Name Event Arguments Wait Component_.
	// Event 163 = start on install (1), stop on install (2) and uninstall
	// (32), delete on uninstall (128).
	sc := msiTable(t, msi, "ServiceControl")
	if len(sc) != 1 || len(sc[0]) != 6 || sc[0][1] != "tokenagent" || sc[0][2] != "163" ||
		sc[0][4] != "1" || sc[0][5] != "TokenagentExe" {
		t.Errorf("ServiceControl rows: %q", sc)
	}
	// The executable, in Program Files\tokenagent.
	files := msiTable(t, msi, "File")
	if len(files) != 1 || files[0][1] != "TokenagentExe" || files[0][2] != "tokenagent.exe" {
		t.Errorf("File rows: %q", files)
	}
	dirs := map[string][]string{}
	for _, d := range msiTable(t, msi, "Directory") {
		dirs[d[0]] = d
	}
	if d := dirs["INSTALLDIR"]; len(d) != 3 || d[1] != "ProgramFiles64Folder" || d[2] != "tokenagent" {
		t.Errorf("INSTALLDIR = %q, want tokenagent in ProgramFiles64Folder", d)
	}
	comps := msiTable(t, msi, "Component")
	if len(comps) != 1 || comps[0][0] != "TokenagentExe" || comps[0][2] != "INSTALLDIR" {
		t.Errorf("Component rows: %q", comps)
	}
	// InstallExecuteSequence: Action Condition Sequence.
	var seq []string
	steps := map[string][]string{}
	for _, r := range msiTable(t, msi, "InstallExecuteSequence") {
		seq = append(seq, r[0])
		steps[r[0]] = r
	}
	for _, a := range []string{"InstallServices", "StartServices", "StopServices", "DeleteServices", "TLSSetup", "TLSRemove"} {
		if !slices.Contains(seq, a) {
			t.Errorf("InstallExecuteSequence lacks %s: %q", a, seq)
		}
	}
	// tls setup runs on a first install, tls remove on uninstall, neither
	// on an upgrade; remove runs while the executable is still there. Both
	// are deferred: between InstallInitialize and InstallFinalize.
	first, last := steps["InstallInitialize"], steps["InstallFinalize"]
	for _, tc := range []struct{ action, condition, before string }{
		{"TLSSetup", "NOT Installed AND NOT WIX_UPGRADE_DETECTED", ""},
		{"TLSRemove", `REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE`, "RemoveFiles"},
	} {
		r := steps[tc.action]
		if len(r) != 3 || len(first) != 3 || len(last) != 3 || r[1] != tc.condition ||
			atoi(t, r[2]) <= atoi(t, first[2]) || atoi(t, r[2]) >= atoi(t, last[2]) {
			t.Errorf("%s step %q (InstallInitialize %q, InstallFinalize %q): want condition %s, deferred", tc.action, r, first, last, tc.condition)
		}
		if b := steps[tc.before]; tc.before != "" && (len(b) != 3 || atoi(t, r[2]) >= atoi(t, b[2])) {
			t.Errorf("%s step %q runs after %s %q", tc.action, r, tc.before, b)
		}
	}
	// CustomAction: Action Type Source Target. tls setup and tls remove run
	// the installed executable (type 18: an EXE from a file), deferred
	// without impersonation (+3072) and not fatal (+64).
	ca := msiTable(t, msi, "CustomAction")
	want := map[string]string{"TLSSetup": "tls setup", "TLSRemove": "tls remove"}
	if len(ca) != len(want) {
		t.Errorf("CustomAction rows: %q", ca)
	}
	for _, row := range ca {
		if len(row) < 4 || want[row[0]] == "" || row[2] != "TokenagentExeFile" || row[3] != want[row[0]] {
			t.Errorf("CustomAction row %q", row)
		} else if typ := atoi(t, row[1]); typ&0x3f != 18 || typ&3072 != 3072 || typ&64 == 0 {
			t.Errorf("CustomAction %s type %d: want an EXE from the installed file, deferred, elevated, not fatal", row[0], typ)
		}
	}
	props := map[string]string{}
	for _, p := range msiTable(t, msi, "Property") {
		if len(p) == 2 {
			props[p[0]] = p[1]
		}
	}
	if props["ProductVersion"] != testMSIVersion || props["ProductName"] != "tokenagent" {
		t.Errorf("ProductName %q, ProductVersion %q; want tokenagent %s",
			props["ProductName"], props["ProductVersion"], testMSIVersion)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
