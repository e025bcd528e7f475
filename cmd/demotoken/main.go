// Command demotoken is `make demo`'s helper: it prepares SoftHSM demo
// tokens and a demo CA in a state directory, runs the agent on them, and
// plays the CA that issues the certificates people request through the
// self-service page.
//
// Usage:
//
//	demotoken -dir DIR [-listen ADDR] setup          create tokens, CA and config.toml once
//	demotoken -dir DIR [-listen ADDR] run AGENT      setup, then run the agent binary AGENT on them
//	demotoken -dir DIR issue [-days N] < req.csr > cert.pem
//	demotoken -dir DIR [-listen ADDR] reset          new tokens and CA, certificates valid again
//
// With no command, demotoken runs setup. The tokens are "demo" (an RSA key
// and a one-year certificate) and "legacy-demo" (an EC key whose
// certificate expires in 20 days, on media the demo's catalogue marks as
// legacy). Everything the demo writes stays in DIR: the SoftHSM store, the
// CA's certificate and key, the agent's config.toml and its audit log.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

const usage = `usage:
  demotoken -dir DIR [-listen ADDR] [setup]     create the demo tokens, CA and config.toml once
  demotoken -dir DIR [-listen ADDR] run AGENT   setup, then run the agent binary AGENT on them
  demotoken -dir DIR issue [-days N] < req.csr > cert.pem
                                                issue a certificate for a CSR with the demo CA
  demotoken -dir DIR [-listen ADDR] reset       delete the demo tokens and CA and set them up anew
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errUsage is a command line that does not parse; usage has been printed.
var errUsage = errors.New("usage")

// run carries out a command line and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := command(args, stdin, stdout, stderr)
	var exit exitCode
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprint(stderr, usage)
		return 2
	case errors.As(err, &exit):
		return int(exit)
	}
	fmt.Fprintln(stderr, "demotoken:", err)
	return 1
}

// exitCode is how a command ends with the agent's own exit code.
type exitCode int

func (e exitCode) Error() string { return "exit code " + strconv.Itoa(int(e)) }

func command(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demotoken", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "", "state directory (required)")
	listen := fs.String("listen", defaultListen, "address the demo agent listens on")
	if err := fs.Parse(args); err != nil || *dir == "" {
		return errUsage
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return fmt.Errorf("resolving state directory: %w", err)
	}
	d := demo{dir: abs, listen: *listen}
	rest := fs.Args()
	if len(rest) == 0 {
		rest = []string{"setup"}
	}
	switch cmd, rest := rest[0], rest[1:]; cmd {
	case "setup":
		if len(rest) > 0 {
			return errUsage
		}
		return d.setup(stdout)
	case "reset":
		if len(rest) > 0 {
			return errUsage
		}
		if err := d.reset(stdout); err != nil {
			return err
		}
		return d.setup(stdout)
	case "run":
		if len(rest) != 1 {
			return errUsage
		}
		return d.run(rest[0], stdout, stderr)
	case "issue":
		ifs := flag.NewFlagSet("issue", flag.ContinueOnError)
		ifs.SetOutput(io.Discard)
		days := ifs.Int("days", 365, "days the certificate is valid")
		if err := ifs.Parse(rest); err != nil || ifs.NArg() > 0 || *days < 1 {
			return errUsage
		}
		return d.issue(stdin, stdout, stderr, *days)
	}
	return errUsage
}
