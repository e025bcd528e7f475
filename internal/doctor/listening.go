package doctor

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/config"
	"github.com/tokenagent/tokenagent/ws"
)

// listening asks the agent at the configured address for /healthz.
func (c *checker) listening(cfg config.Config, installed bool) {
	topic := "listening"
	if cfg.NonLoopback() {
		c.warn(topic, fmt.Sprintf("listen = %q lets other computers reach the agent", cfg.Listen),
			`listen on loopback only: listen = "`+ws.DefaultListen+`" `+c.inConfig())
	}
	host, port, _ := net.SplitHostPort(cfg.Listen) // config.Load checked it
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, port)
	scheme := "http"
	client := &http.Client{Timeout: c.p.Timeout}
	if cfg.TLS.Cert != "" {
		scheme = "https"
		// The probe only asks whether the agent answers; whether browsers
		// trust its certificate is another question.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	v, err := healthz(client, scheme+"://"+addr+"/healthz")
	switch {
	case err == nil:
		c.ok(topic, "the agent answers at %s: version %s, protocol %d", addr, v.Version, v.Protocol)
		if v.Protocol != agent.Protocol {
			c.warn(topic, fmt.Sprintf("the agent speaks protocol %d, this tokenagent %d", v.Protocol, agent.Protocol),
				"restart the service on the installed binary: tokenagent service restart"+c.userFlag())
		}
	case installed:
		c.fail(topic, fmt.Sprintf("nothing answers at %s although the service is installed (%v)", addr, err),
			"tokenagent service restart"+c.userFlag()+", then read its log ("+c.svc.Log+")")
	default:
		c.warn(topic, fmt.Sprintf("nothing answers at %s (%v)", addr, err),
			"tokenagent service install"+c.userFlag()+" && tokenagent service start"+c.userFlag()+", or run it yourself: tokenagent run")
	}
}

// health is the agent's /healthz answer.
type health struct {
	Status   string `json:"status"`
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
}

// healthz gets url and decodes the answer.
func healthz(client *http.Client, url string) (health, error) {
	var h health
	resp, err := client.Get(url)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return h, errors.New("no answer in time")
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return h, errors.New("connection refused")
		}
		return h, fmt.Errorf("asking for /healthz: %w", err)
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
