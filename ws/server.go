package ws

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/agent"
)

// Limits of the HTTP side and of each connection.
const (
	idleTimeout    = 60 * time.Second
	maxHeaderBytes = 64 << 10
	writeWait      = 10 * time.Second // deadline of every frame written
	closeGrace     = 2 * time.Second  // how long a closing peer may take to answer
	maxInFlight    = 32               // concurrent requests per connection
	sendQueue      = 64               // responses waiting for the writer
)

// ErrServerClosed is what Serve and ServeTLS return after Shutdown.
var ErrServerClosed = http.ErrServerClosed

// Server serves the protocol over HTTP and WebSocket. Create it with New;
// it serves one listener.
type Server struct {
	cfg      Config
	agent    *agent.Agent
	log      *slog.Logger
	allowed  map[string]bool            // normalised allowed origins
	perms    map[string]map[string]bool // normalised origin → allowed methods
	methods  map[string]handler
	upgrader websocket.Upgrader
	http     *http.Server
	inFlight int // per connection; a field so tests can lower it
	refusals refusalLimiter

	pinEntry map[string]PINEntry // normalised origin → where its PINs are typed
	consents *consentHub         // held calls and consent windows (consent.go)
	// consentUpgrader upgrades the consent page's socket, whose origin
	// serveConsentSocket has checked.
	consentUpgrader websocket.Upgrader

	mu        sync.Mutex
	serving   bool
	port      string // the listener's port, set by Serve
	scheme    string // "http" or "https", set by Serve
	own       map[string]bool
	closing   bool
	active    int             // connections counted against MaxConnections (places.go)
	byClass   [classCount]int // of them, by class
	perOrigin map[string]int  // of them, by place key
	conns     map[*conn]struct{}
	connsWG   sync.WaitGroup // one per upgraded connection, until fully done
	shutdown  chan struct{}  // closed by Shutdown
	// unused are the TCP connections that have not sent a request yet:
	// browsers open spare ones ahead of need, and net/http's Shutdown
	// would wait 5 s for each before it counts it idle.
	unused map[net.Conn]struct{}
}

// New returns a Server for a with cfg.
func New(cfg Config, a *agent.Agent) *Server {
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxConnectionsPerOrigin <= 0 {
		cfg.MaxConnectionsPerOrigin = DefaultMaxConnectionsPerOrigin
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PongWait <= 0 {
		cfg.PongWait = DefaultPongWait
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.ConsentTimeout <= 0 {
		cfg.ConsentTimeout = DefaultConsentTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:       cfg,
		agent:     a,
		log:       cfg.Logger,
		allowed:   map[string]bool{},
		perms:     map[string]map[string]bool{},
		pinEntry:  map[string]PINEntry{},
		consents:  newConsentHub(),
		inFlight:  maxInFlight,
		conns:     map[*conn]struct{}{},
		perOrigin: map[string]int{},
		shutdown:  make(chan struct{}),
		unused:    map[net.Conn]struct{}{},
	}
	for _, o := range cfg.AllowedOrigins {
		n, err := NormalizeOrigin(o)
		if err != nil {
			s.log.Warn("ignoring allowed origin", "origin", o, "err", err)
			continue
		}
		s.allowed[n] = true
	}
	for o, methods := range cfg.OriginMethods {
		n, err := NormalizeOrigin(o)
		if err != nil {
			s.log.Warn("ignoring method allow-list", "origin", o, "err", err)
			continue
		}
		set := s.perms[n]
		if set == nil {
			set = map[string]bool{}
			s.perms[n] = set
		}
		for _, m := range methods {
			set[m] = true
		}
	}
	for o, entry := range cfg.OriginPINEntry {
		n, err := NormalizeOrigin(o)
		if err != nil {
			s.log.Warn("ignoring pin_entry", "origin", o, "err", err)
			continue
		}
		s.pinEntry[n] = entry
	}
	s.methods = s.methodTable()
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.RequestTimeout,
		CheckOrigin:      s.checkOrigin,
	}
	s.consentUpgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.RequestTimeout,
		CheckOrigin:      func(*http.Request) bool { return true },
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.RequestTimeout,
		// Without a read timeout a request body sent a byte at a time
		// holds its connection open forever: a handler that answers
		// without reading the body still has net/http read it for
		// keep-alive. A hijacked WebSocket sets its own deadlines.
		ReadTimeout:    cfg.RequestTimeout,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		TLSConfig:      &tls.Config{MinVersion: tls.VersionTLS12},
		// WebSocket needs HTTP/1.1; gorilla does not speak RFC 8441.
		Protocols: http1Only(),
		ConnState: s.trackUnused,
	}
	return s
}

// trackUnused keeps the set of connections that have not sent a request.
func (s *Server) trackUnused(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == http.StateNew {
		s.unused[c] = struct{}{}
	} else {
		delete(s.unused, c)
	}
}

func http1Only() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	return p
}

// Serve serves HTTP and WS on ln until Shutdown, then returns
// ErrServerClosed. The Host check takes the port from ln's address, and
// the agent's own origins are the loopback addresses ln holds (see
// Listen, which holds both). A Server serves one listener: a second Serve
// or ServeTLS fails.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.start(ln, s.cfg.TLS); err != nil {
		return err
	}
	return s.http.Serve(ln)
}

// ServeTLS is Serve over HTTPS/WSS with the certificate and key in the
// given PEM files.
func (s *Server) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	certs := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := certs.get(nil); err != nil {
		return fmt.Errorf("ws: %w", err)
	}
	if err := s.start(ln, true); err != nil {
		return err
	}
	s.http.TLSConfig.GetCertificate = certs.get
	return s.http.ServeTLS(ln, "", "")
}

func (s *Server) start(ln net.Listener, tls bool) error {
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return fmt.Errorf("ws: listener address %s: %w", ln.Addr(), err)
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return ErrServerClosed
	case s.serving:
		return errors.New("ws: server already serving a listener")
	}
	s.serving, s.port, s.scheme = true, port, scheme
	addrs := []net.Addr{ln.Addr()}
	if l, ok := ln.(interface{ Addrs() []net.Addr }); ok {
		addrs = l.Addrs() // a Listener on both addresses of loopback
	}
	s.own = map[string]bool{}
	for _, o := range ownOrigins(ownHosts(addrs), port, scheme) {
		s.own[o] = true
	}
	return nil
}

// Shutdown stops accepting connections, sends every open WebSocket a close
// frame with 1001 (going away), and waits until every connection and its
// requests are done or ctx ends; then it closes what is left and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.shutdown)
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	for c := range s.unused {
		c.Close() // no request on it to finish
	}
	s.mu.Unlock()

	for _, c := range conns {
		c.close(websocket.CloseGoingAway, "agent shutting down")
	}
	httpErr := s.http.Shutdown(ctx)

	done := make(chan struct{})
	go func() {
		s.connsWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return httpErr
	case <-ctx.Done():
		for _, c := range conns {
			c.abort()
		}
		return ctx.Err()
	}
}

// ServeHTTP routes a request after the Host check, which every route gets.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	port, scheme := s.port, s.scheme
	s.mu.Unlock()
	if !hostAllowed(r.Host, port, scheme) {
		s.refuse(w, r, http.StatusForbidden, "host not allowed")
		return
	}
	switch r.URL.Path {
	case "/ws":
		s.serveWS(w, r)
	case "/healthz":
		s.serveHealth(w, r)
	case "/consent/ws":
		s.serveConsentSocket(w, r)
	default:
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if !onlyGet(w, r) {
			return
		}
		s.serveAsset(w, r, a)
	}
}

// onlyGet answers 405 to methods other than GET and HEAD.
func onlyGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// serveWS runs the handshake checks and, when they pass, upgrades and
// serves the connection on this goroutine, which becomes its reader.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	origin, ok := s.originAllowed(r)
	if !ok {
		s.refuse(w, r, http.StatusForbidden, "origin not allowed")
		return
	}
	p := s.placeFor(origin)
	if refused := s.reserve(p); refused != "" {
		s.refuse(w, r, http.StatusServiceUnavailable, refused)
		return
	}
	wsc, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered the request.
		s.release(p)
		s.log.Info("handshake failed", "reason", err.Error(), "origin", origin, "remote", r.RemoteAddr)
		return
	}
	c := newConn(s, wsc, origin, r.RemoteAddr, p)
	if !s.track(c) {
		c.closeNow(websocket.CloseGoingAway, "agent shutting down")
		s.release(p)
		return
	}
	defer s.untrack(c)
	c.serve()
}

// track registers an upgraded connection for Shutdown; false when Shutdown
// has begun.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.connsWG.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.release(c.place)
	s.connsWG.Done()
}

// methodAllowed reports whether a connection from origin may call method.
func (s *Server) methodAllowed(origin, method string) bool {
	set, restricted := s.perms[origin]
	return !restricted || origin == "" || set[method]
}
