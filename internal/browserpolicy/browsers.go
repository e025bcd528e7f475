// Package browserpolicy knows where browsers keep the enterprise policies
// that let portals reach the agent past Local Network Access, reads them on
// this computer, and tells, as data, which allowed origins each installed
// browser pre-allows. tokenagent doctor prints the findings; the installer
// package renders the policy files from the same table.
//
// Chromium browsers (Chrome, Edge, Chromium) take URL patterns in
// LoopbackNetworkAllowedForUrls or LocalNetworkAccessAllowedForUrls;
// Firefox takes host names in LocalNetworkAccess.SkipDomains. Policies are
// read from Linux's managed policy files, the Windows registry
// (HKEY_LOCAL_MACHINE and HKEY_CURRENT_USER) and macOS's managed
// preferences (through plutil).
//
// Nothing here keeps state: Check reads the policies each time it runs and
// may run from several goroutines.
package browserpolicy

// ChromiumPolicies are the Chromium policies that exempt pages of the
// listed URL patterns from Local Network Access toward this computer:
// LoopbackNetworkAllowedForUrls since Chrome and Edge 146, and
// LocalNetworkAccessAllowedForUrls, which Chrome 139 to 145 read and later
// ones still honour.
var ChromiumPolicies = []string{"LoopbackNetworkAllowedForUrls", "LocalNetworkAccessAllowedForUrls"}

// FirefoxPolicy is Firefox's policy whose SkipDomains member lists the
// hosts (any scheme and port) whose pages Local Network Access lets
// through.
const FirefoxPolicy = "LocalNetworkAccess"

// Browser is one browser and the places of its policies and program on
// each system.
type Browser struct {
	Name    string
	Firefox bool // Firefox's policy format, else Chromium's

	// Linux: the managed policy directory (Chromium: every *.json in it)
	// or the policies.json files (Firefox), and the programs.
	LinuxPolicies []string
	LinuxPrograms []string
	// Windows: the policy key under HKLM and HKCU, and the programs.
	WindowsKey      string
	WindowsPrograms []string
	// macOS: the preference domain, and the application.
	MacDomain string
	MacApp    string
}

// Browsers are the browsers doctor looks for and the installer writes
// policies for.
var Browsers = []Browser{
	{
		Name:            "Google Chrome",
		LinuxPolicies:   []string{"/etc/opt/chrome/policies/managed"},
		LinuxPrograms:   []string{"/opt/google/chrome/chrome"},
		WindowsKey:      `SOFTWARE\Policies\Google\Chrome`,
		WindowsPrograms: []string{`%ProgramFiles%\Google\Chrome\Application\chrome.exe`, `%ProgramFiles(x86)%\Google\Chrome\Application\chrome.exe`, `%LOCALAPPDATA%\Google\Chrome\Application\chrome.exe`},
		MacDomain:       "com.google.Chrome",
		MacApp:          "/Applications/Google Chrome.app",
	},
	{
		Name:            "Microsoft Edge",
		LinuxPolicies:   []string{"/etc/opt/edge/policies/managed"},
		LinuxPrograms:   []string{"/opt/microsoft/msedge/msedge"},
		WindowsKey:      `SOFTWARE\Policies\Microsoft\Edge`,
		WindowsPrograms: []string{`%ProgramFiles(x86)%\Microsoft\Edge\Application\msedge.exe`, `%ProgramFiles%\Microsoft\Edge\Application\msedge.exe`},
		MacDomain:       "com.microsoft.Edge",
		MacApp:          "/Applications/Microsoft Edge.app",
	},
	{
		Name:            "Chromium",
		LinuxPolicies:   []string{"/etc/chromium/policies/managed", "/etc/chromium-browser/policies/managed"},
		LinuxPrograms:   []string{"/usr/lib/chromium/chromium", "/usr/lib/chromium-browser/chromium-browser", "/usr/lib64/chromium-browser/chromium-browser", "/snap/bin/chromium"},
		WindowsKey:      `SOFTWARE\Policies\Chromium`,
		WindowsPrograms: []string{`%LOCALAPPDATA%\Chromium\Application\chrome.exe`},
		MacDomain:       "org.chromium.Chromium",
		MacApp:          "/Applications/Chromium.app",
	},
	{
		Name:    "Firefox",
		Firefox: true,
		LinuxPolicies: []string{"/etc/firefox/policies/policies.json", "/usr/lib/firefox/distribution/policies.json",
			"/usr/lib64/firefox/distribution/policies.json", "/usr/lib/firefox-esr/distribution/policies.json"},
		LinuxPrograms:   []string{"/usr/lib/firefox/firefox", "/usr/lib64/firefox/firefox", "/usr/lib/firefox-esr/firefox-esr", "/snap/bin/firefox"},
		WindowsKey:      `SOFTWARE\Policies\Mozilla\Firefox`,
		WindowsPrograms: []string{`%ProgramFiles%\Mozilla Firefox\firefox.exe`, `%ProgramFiles(x86)%\Mozilla Firefox\firefox.exe`},
		MacDomain:       "org.mozilla.firefox",
		MacApp:          "/Applications/Firefox.app",
	},
}
