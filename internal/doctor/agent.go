package doctor

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/config"
	"github.com/tokenagent/tokenagent/ws"
)

// callTimeout bounds doctor's calls to the agent: a listing of tokens
// behind card readers can take seconds per card.
const callTimeout = 30 * time.Second

// runningAgent is what the agent listening at an address told doctor.
type runningAgent struct {
	info    agentInfo
	tokens  []tokenInfo
	process *Running // nil when how it was started is not known
}

// agentInfo is the part of agent.info's result doctor reports.
type agentInfo struct {
	Modules []moduleInfo `json:"modules"`
}

// moduleInfo is the part of an agent.info module doctor reports.
type moduleInfo struct {
	Path           string  `json:"path"`
	Manufacturer   string  `json:"manufacturer"`
	LibraryVersion string  `json:"libraryVersion"`
	State          string  `json:"state"`
	Error          *string `json:"error"`
}

// tokenInfo is the part of a tokens.list entry doctor reports.
type tokenInfo struct {
	Label    string `json:"label"`
	Model    string `json:"model"`
	Serial   string `json:"serial"`
	Module   string `json:"module"`
	ReadOnly bool   `json:"readOnly"`
	PIN      struct {
		Initialized bool `json:"initialized"`
		Locked      bool `json:"locked"`
		FinalTry    bool `json:"finalTry"`
		SOLocked    bool `json:"soLocked"`
	} `json:"pin"`
}

// agentAddr is where to reach an agent that listens at listen: the
// loopback address for an unspecified host.
func agentAddr(listen string) string {
	host, port, _ := net.SplitHostPort(listen) // checked by config.Load or CheckListenAddr
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// agent asks the agent listening at listen what it has (its modules and
// their tokens, through agent.info and tokens.list, as a local program)
// and, from its process, which origins it accepts. cfg is the config
// checked, for whether to use TLS when the process does not tell. It
// returns nil when no agent answers.
func (c *checker) agent(listen string, cfg config.Config, installed bool) *runningAgent {
	addr := agentAddr(listen)
	r := &runningAgent{}
	var procErr error
	if c.p.Running == nil {
		procErr = errors.New("not asked")
	} else if p, err := c.p.Running(addr); err != nil {
		procErr = err
	} else {
		r.process = &p
		cfg = p.Config
	}
	scheme := "ws"
	// The probe only asks what the agent has and sends no secret; whether
	// browsers trust its certificate is the tls check's question.
	tlsConf := &tls.Config{InsecureSkipVerify: true}
	if cfg.TLS.Cert == "" {
		tlsConf = nil
	} else {
		scheme = "wss"
	}
	topic := "agent"
	v, err := healthz(c.p.Timeout, tlsConf, addr)
	if err != nil {
		what := fmt.Sprintf("no agent answers at %s: %v", addr, err)
		if errors.Is(err, errRefused) {
			what = fmt.Sprintf("no agent listening at %s (connection refused)", addr)
		}
		if installed {
			c.fail(topic, what+", although the service is installed",
				"tokenagent service restart"+c.userFlag()+", then read its log ("+c.svc.Log+")")
		} else {
			c.warn(topic, what,
				"tokenagent service install"+c.userFlag()+" && tokenagent service start"+c.userFlag()+", or run it yourself: tokenagent run")
		}
		return nil
	}
	url := scheme + "://" + addr + "/ws"
	c.ok(topic, "the agent answers at %s: version %s, protocol %d", url, v.Version, v.Protocol)
	if r.process != nil {
		c.detail("process %d: %s", r.process.PID, strings.Join(r.process.Args, " "))
	}
	if v.Protocol != agent.Protocol {
		c.warn(topic, fmt.Sprintf("the agent speaks protocol %d, this tokenagent %d", v.Protocol, agent.Protocol),
			"restart the service on the installed binary: tokenagent service restart"+c.userFlag())
	}
	if err := ask(url, tlsConf, c.p.Timeout, &r.info, &r.tokens); err != nil {
		c.warn(topic, "asking the agent what it has: "+err.Error(), "see the agent's log; the checks below are of the config file")
		return nil
	}
	c.agentModules(r)
	c.agentOrigins(r, procErr)
	return r
}

// agentModules reports the running agent's modules, each with its tokens.
func (c *checker) agentModules(r *runningAgent) {
	if len(r.info.Modules) == 0 {
		c.fail("agent modules", "the agent has no PKCS#11 module: it sees no token",
			"install your token's PKCS#11 module, or name it in modules = [...] "+r.inConfig(c)+", then restart the agent")
	}
	for _, m := range r.info.Modules {
		topic := "agent module " + m.Path
		why, state := "", m.State
		if m.Error != nil {
			why = ": " + *m.Error
		}
		if state == "" { // an agent of the first contract, which has no state
			state = "loaded"
			if m.Error != nil {
				state = "failed"
			}
		}
		switch state {
		case "failed":
			c.fail(topic, "failed"+why, "install the module where it is named, check that it suits this system (architecture, the libraries it needs), or "+r.removeModule(c))
			continue
		case "recovering":
			c.warn(topic, "recovering after its back end went away"+why, "if it stays so, replug the token or restart the agent")
			continue
		}
		var lines []string
		for _, t := range r.tokens {
			if t.Module == m.Path {
				lines = append(lines, t.describe())
			}
		}
		slices.Sort(lines)
		what := "no token present"
		if len(lines) > 0 {
			what = Plural(len(lines), "token") + ":"
		}
		c.ok(topic, "%s (%s, version %s); %s", state, m.Manufacturer, m.LibraryVersion, what)
		for _, l := range lines {
			c.detail("  %s", l)
		}
	}
}

// describe is a token's line: its label, model and serial number, and
// what stands in the way of using it.
func (t tokenInfo) describe() string {
	s := fmt.Sprintf("%q (%s, serial %s)", t.Label, t.Model, t.Serial)
	var notes []string
	switch {
	case !t.PIN.Initialized:
		notes = append(notes, "its user PIN is not set")
	case t.PIN.Locked:
		notes = append(notes, "its user PIN is locked: unlock it with the SO PIN (PUK)")
	case t.PIN.FinalTry:
		notes = append(notes, "one try of its user PIN left")
	}
	if t.PIN.SOLocked {
		notes = append(notes, "its SO PIN is locked")
	}
	if t.ReadOnly {
		notes = append(notes, "read-only")
	}
	if len(notes) > 0 {
		s += ": " + strings.Join(notes, "; ")
	}
	return s
}

// agentOrigins reports the origins the running agent accepts, read from
// how its process was started: the protocol has no method that lists them,
// since listing them to any page would tell pages which portals the person
// uses.
func (c *checker) agentOrigins(r *runningAgent, procErr error) {
	if r.process == nil {
		c.info("agent origins", "cannot tell which origins the agent accepts, which doctor reads from how it was started: %v; the config checked is below", procErr)
		return
	}
	from := " (from its command line)"
	if f := r.process.ConfigFile; f != "" {
		from = " (from its command line and " + f + ")"
	}
	// An empty list cannot come from --allow-origin, which replaces it.
	c.allowedOrigins("agent origins", r.process.Config, from, r.inConfig(c))
}

// inConfig names, for a fix, the running agent's config file.
func (r *runningAgent) inConfig(c *checker) string {
	switch {
	case r.process == nil:
		return c.inConfig()
	case r.process.ConfigFile != "":
		return "in " + r.process.ConfigFile
	}
	return "in a config file, which it is given with --config FILE"
}

// removeModule says, for a fix, how to make the running agent drop a
// module: --module flags replace the config's modules.
func (r *runningAgent) removeModule(c *checker) string {
	if r.process != nil && len(r.process.Flags.Modules) > 0 {
		return "remove its --module from the agent's command line"
	}
	return "remove it from modules " + r.inConfig(c)
}

// errRefused says that nothing listens at the address.
var errRefused = errors.New("connection refused")

// health is the agent's /healthz answer.
type health struct {
	Status   string `json:"status"`
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
}

// healthz asks the agent at addr for /healthz, over HTTPS when tlsConf is
// set, within timeout.
func healthz(timeout time.Duration, tlsConf *tls.Config, addr string) (health, error) {
	var h health
	client := &http.Client{Timeout: timeout}
	url := "http://" + addr + "/healthz"
	if tlsConf != nil {
		client.Transport = &http.Transport{TLSClientConfig: tlsConf}
		url = "https://" + addr + "/healthz"
	}
	resp, err := client.Get(url)
	if err != nil {
		return h, dialError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("/healthz answered %s: another program holds the port?", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&h); err != nil || h.Status != "ok" {
		return h, errors.New("the answer to /healthz is not the agent's: another program holds the port?")
	}
	return h, nil
}

// dialError words a failure to reach the agent.
func dialError(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("no answer in time")
	case errors.Is(err, syscall.ECONNREFUSED):
		return errRefused
	}
	return err
}

// ask opens a socket to the agent at url as a local program does (no
// Origin header) and decodes agent.info's result into info and
// tokens.list's tokens into tokens.
func ask(url string, tlsConf *tls.Config, timeout time.Duration, info *agentInfo, tokens *[]tokenInfo) error {
	d := websocket.Dialer{HandshakeTimeout: timeout, TLSClientConfig: tlsConf}
	conn, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusForbidden:
				return errors.New("it refuses programs without an Origin header (allow_no_origin = false), such as doctor")
			case http.StatusServiceUnavailable:
				return errors.New("it has no place for another connection now (503)")
			}
			return fmt.Errorf("the socket's handshake answered %s", resp.Status)
		}
		return fmt.Errorf("opening its socket: %w", dialError(err))
	}
	defer conn.Close()
	var list struct {
		Tokens *[]tokenInfo `json:"tokens"`
	}
	list.Tokens = tokens
	results := map[int]any{1: info, 2: &list}
	methods := map[int]string{1: "agent.info", 2: "tokens.list"}
	for id, m := range methods {
		if err := conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": id, "method": m}); err != nil {
			return fmt.Errorf("calling %s: %w", m, err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(callTimeout))
	for len(results) > 0 {
		var reply struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := conn.ReadJSON(&reply); err != nil {
			return fmt.Errorf("reading the answers: %w", dialError(err))
		}
		into, ok := results[reply.ID]
		if !ok {
			continue // an event, or an answer already read
		}
		if reply.Error != nil {
			return fmt.Errorf("%s: %s", methods[reply.ID], reply.Error.Message)
		}
		if err := json.Unmarshal(reply.Result, into); err != nil {
			return fmt.Errorf("reading the answer to %s: %w", methods[reply.ID], err)
		}
		delete(results, reply.ID)
	}
	return nil
}

// nonLoopback warns when the config lets other computers reach the agent.
func (c *checker) nonLoopback(cfg config.Config) {
	if cfg.NonLoopback() {
		c.warn("listening", fmt.Sprintf("listen = %q lets other computers reach the agent", cfg.Listen),
			`listen on loopback only: listen = "`+ws.DefaultListen+`" `+c.inConfig())
	}
}
