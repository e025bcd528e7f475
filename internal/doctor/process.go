package doctor

import (
	"errors"

	"github.com/tokenagent/tokenagent/internal/config"
)

// Process is a process found listening at an address.
type Process struct {
	PID  int
	Args []string // its command line, the program first
	Dir  string   // its working directory; empty when it cannot be read
}

// ErrNotListening says that no socket listens at the address asked about.
var ErrNotListening = errors.New("no socket listening")

// Running is how the agent listening at an address was started, as far as
// its process tells: what it accepts is read from its command line and
// its config file.
type Running struct {
	PID        int
	Args       []string         // its command line, the program first
	ConfigFile string           // the config file it names; empty: none
	Flags      config.Overrides // what its flags set over the file
	Config     config.Config    // its flags applied to that file as it is now (the agent read it when it started)
}
