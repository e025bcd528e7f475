// Package installer holds the files that install tokenagent as a service:
// the hardened systemd units (system and per-user) and the launchd property
// list. They are embedded, so that `tokenagent service install` writes the
// very units packaged here: one text of each is the source of truth.
package installer

import (
	_ "embed"
	"errors"
	"regexp"
)

// SystemdUnit is the system-wide systemd unit, installed as
// /etc/systemd/system/tokenagent.service (or /usr/lib/systemd/system by a package).
//
//go:embed systemd/tokenagent.service
var SystemdUnit string

// SystemdUserUnit is the per-user systemd unit, installed as
// ~/.config/systemd/user/tokenagent.service.
//
//go:embed systemd/user/tokenagent.service
var SystemdUserUnit string

// LaunchdPlist is the launchd job, installed as
// /Library/LaunchDaemons/com.tokenagent.agent.plist (system) or
// ~/Library/LaunchAgents/com.tokenagent.agent.plist (per user).
//
//go:embed launchd/com.tokenagent.agent.plist
var LaunchdPlist string

// execStartLine matches the ExecStart line of a unit.
var execStartLine = regexp.MustCompile(`(?m)^ExecStart=.*$`)

// systemdExecStart is the ExecStart line in kardianos/service's template
// syntax: the executable path and the configured arguments, quoted for
// systemd.
const systemdExecStart = `ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}`

// programArguments matches the ProgramArguments key of a property list and
// its array.
var programArguments = regexp.MustCompile(`(?s)<key>ProgramArguments</key>\s*<array>.*?</array>`)

// launchdProgramArguments is the ProgramArguments key in kardianos/service's
// template syntax: the executable path and the configured arguments.
const launchdProgramArguments = "<key>ProgramArguments</key>\n\t<array>\n" +
	"\t\t<string>{{Path | html}}</string>\n" +
	"{{range Arguments}}\t\t<string>{{. | html}}</string>\n{{end}}\t</array>"

// LaunchdTemplate turns LaunchdPlist into a template for kardianos/service's
// "LaunchdConfig" option: the job as it is, with ProgramArguments running
// the installing binary with the service's arguments.
func LaunchdTemplate() (string, error) {
	if n := len(programArguments.FindAllStringIndex(LaunchdPlist, -1)); n != 1 {
		return "", errors.New("property list must have exactly one ProgramArguments array")
	}
	return programArguments.ReplaceAllLiteralString(LaunchdPlist, launchdProgramArguments), nil
}

// SystemdTemplate turns a unit (SystemdUnit or SystemdUserUnit) into a
// template for kardianos/service's "SystemdScript" option: the unit as it
// is, with an ExecStart that runs the installing binary with the service's
// arguments.
func SystemdTemplate(unit string) (string, error) {
	if n := len(execStartLine.FindAllStringIndex(unit, -1)); n != 1 {
		return "", errors.New("unit must have exactly one ExecStart line")
	}
	return execStartLine.ReplaceAllLiteralString(unit, systemdExecStart), nil
}
