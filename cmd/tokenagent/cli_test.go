package main

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// TestCommandLine checks what each command line prints where, and its exit
// code: asking for help is answered on stdout with 0, a mistake on stderr
// with 2; the other stream stays empty.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout bool     // the text is on stdout, stderr stays empty; else the other way round
		want   []string // in that stream
		reject []string // not in it
	}{
		{[]string{"--help"}, 0, true, []string{"usage: tokenagent COMMAND", "Commands:"}, nil},
		{[]string{"-h"}, 0, true, []string{"usage: tokenagent COMMAND"}, nil},
		{[]string{"help"}, 0, true, []string{"usage: tokenagent COMMAND"}, nil},
		{[]string{"run", "--help"}, 0, true, []string{"usage: tokenagent run", "--log-level LEVEL      debug, info, warn or error"}, []string{"help requested"}},
		{[]string{"run", "-h"}, 0, true, []string{"usage: tokenagent run"}, nil},
		{[]string{"help", "run"}, 0, true, []string{"usage: tokenagent run"}, nil},
		{[]string{"service", "--help"}, 0, true, []string{"usage: tokenagent service"}, nil},
		{[]string{"service", "-h"}, 0, true, []string{"usage: tokenagent service"}, nil},
		{[]string{"service", "status", "--help"}, 0, true, []string{"usage: tokenagent service", "status exits as LSB"}, nil},
		{[]string{"service", "install", "-h"}, 0, true, []string{"usage: tokenagent service"}, nil},
		{[]string{"doctor", "--help"}, 0, true, []string{"usage: tokenagent doctor", "--listen ADDR"}, nil},
		{[]string{"doctor", "-h"}, 0, true, []string{"usage: tokenagent doctor"}, nil},
		{[]string{"help", "doctor"}, 0, true, []string{"usage: tokenagent doctor"}, nil},
		{[]string{"tls", "--help"}, 0, true, []string{"usage: tokenagent tls"}, nil},
		{[]string{"tls", "setup", "--help"}, 0, true, []string{"usage: tokenagent tls"}, nil},
		{[]string{"version", "--help"}, 0, true, []string{"usage: tokenagent version"}, nil},
		{[]string{"version"}, 0, true, []string{"tokenagent ", "(protocol 1)"}, nil},
		{[]string{"--version"}, 0, true, []string{"(protocol 1)"}, nil},

		{nil, 2, false, []string{"usage: tokenagent COMMAND"}, nil},
		{[]string{"frobnicate"}, 2, false, []string{`unknown command "frobnicate"`, "usage: tokenagent COMMAND"}, nil},
		{[]string{"help", "frobnicate"}, 2, false, []string{"no such command", "usage: tokenagent COMMAND"}, nil},
		{[]string{"run", "--log-level", "loud"}, 2, false,
			[]string{`invalid value "loud" for flag -log-level: the levels are debug, info, warn, error`, "usage: tokenagent run"}, []string{"slog"}},
		{[]string{"run", "--log-level=Loud"}, 2, false, []string{"the levels are debug, info, warn, error"}, nil},
		{[]string{"run", "--frobnicate"}, 2, false, []string{"flag provided but not defined: -frobnicate", "usage: tokenagent run"}, nil},
		{[]string{"run", "now"}, 2, false, []string{`unexpected arguments: ["now"]`, "usage: tokenagent run"}, nil},
		{[]string{"doctor", "--frobnicate"}, 2, false, []string{"usage: tokenagent doctor"}, nil},
		{[]string{"doctor", "extra"}, 2, false, []string{"unexpected arguments", "usage: tokenagent doctor"}, nil},
		{[]string{"doctor", "--listen", "nowhere"}, 2, false, []string{"--listen: ", "usage: tokenagent doctor"}, nil},
		{[]string{"service"}, 2, false, []string{"usage: tokenagent service"}, nil},
		{[]string{"service", "start", "--system"}, 2, false, []string{"flag provided but not defined: -system", "usage: tokenagent service"}, nil},
		{[]string{"tls", "status", "--frobnicate"}, 2, false, []string{"usage: tokenagent tls"}, nil},
		{[]string{"version", "now"}, 2, false, []string{"unexpected arguments", "usage: tokenagent version"}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			got, other, name := stdout.String(), stderr.String(), "stdout"
			if !tc.stdout {
				got, other, name = other, got, "stderr"
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stdout %q, stderr %q", code, tc.code, stdout.String(), stderr.String())
			}
			if other != "" {
				t.Errorf("the other stream than %s has %q", name, other)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s lacks %q:\n%s", name, w, got)
				}
			}
			for _, r := range tc.reject {
				if strings.Contains(got, r) {
					t.Errorf("%s has %q:\n%s", name, r, got)
				}
			}
		})
	}
}

// TestUsageListsEveryCommand: the top-level help names each command with
// a line saying what it does, and each of them answers --help.
func TestUsageListsEveryCommand(t *testing.T) {
	var stdout bytes.Buffer
	if code := run([]string{"--help"}, &stdout, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for _, name := range []string{"run", "service", "doctor", "tls", "version", "help"} {
		line := regexp.MustCompile(`(?m)^  ` + name + ` +[a-z].{20,}$`)
		if !line.MatchString(stdout.String()) {
			t.Errorf("the usage has no line describing %q:\n%s", name, stdout.String())
		}
		var out bytes.Buffer
		if code := run([]string{name, "--help"}, &out, &bytes.Buffer{}); code != 0 || !strings.Contains(out.String(), "usage: tokenagent") {
			t.Errorf("%s --help: exit code %d, stdout %q", name, code, out.String())
		}
	}
}

func TestLogLevelFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want slog.Level
		ok   bool
	}{
		{"debug", slog.LevelDebug, true}, {"info", slog.LevelInfo, true}, {"WARN", slog.LevelWarn, true},
		{"error", slog.LevelError, true}, {"loud", 0, false}, {"info+2", 0, false}, {"", 0, false},
	} {
		var l levelFlag
		err := l.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && slog.Level(l) != tc.want) {
			t.Errorf("Set(%q) = %v, level %v; want ok %v, %v", tc.in, err, slog.Level(l), tc.ok, tc.want)
		}
	}
}
