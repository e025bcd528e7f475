package ws

import (
	"log/slog"
	"time"
)

// DefaultListen is the address the agent listens on unless configured
// otherwise: the protocol's port on loopback, where the bundled client
// looks for it.
const DefaultListen = "127.0.0.1:24321"

// DefaultAllowNoOrigin is the protocol's default for Config.AllowNoOrigin:
// local programs, which send no Origin header, may connect.
const DefaultAllowNoOrigin = true

// Defaults for the zero values of Config.
const (
	DefaultMaxConnections          = 256
	DefaultMaxConnectionsPerOrigin = 32
	DefaultIdleTimeout             = 5 * time.Minute
	DefaultMaxMessageBytes         = 8 << 20
	DefaultPingInterval            = 30 * time.Second
	DefaultPongWait                = 60 * time.Second
	DefaultRequestTimeout          = 10 * time.Second
)

// PINEntry says where the person types the PINs of an origin's calls
// (the config's [[origin]] pin_entry, PROTOCOL.md "Consent").
type PINEntry string

// The places a PIN may be typed.
const (
	PINEntryPage   PINEntry = "page"   // in the page that asks, which sends it as a param
	PINEntryAgent  PINEntry = "agent"  // on the agent's consent page only: a call with a PIN is refused
	PINEntryEither PINEntry = "either" // either (the default)
)

// NoIdleTimeout, as Config.IdleTimeout, keeps idle connections open.
const NoIdleTimeout time.Duration = -1

// Config configures a Server. The zero value of a field means its default.
type Config struct {
	// AllowedOrigins are the page origins that may open a socket, each
	// scheme://host[:port] with the default port dropped. New normalises
	// them again and drops (with a warning) those that do not parse.
	AllowedOrigins []string
	// AllowNoOrigin accepts handshakes without an Origin header: local
	// programs. (The protocol's default is true; the zero value here is
	// false, so callers must say so.)
	AllowNoOrigin bool
	// MaxConnections bounds the open WebSocket connections; more handshakes
	// are answered 503. Default DefaultMaxConnections.
	MaxConnections int
	// MaxConnectionsPerOrigin bounds one origin's connections (local
	// programs count as one origin, the agent's own origins as one); more
	// are answered 503. Default DefaultMaxConnectionsPerOrigin.
	MaxConnectionsPerOrigin int
	// IdleTimeout closes a connection (1000, "idle") that has had no
	// request for this long, none in flight and no events subscription.
	// Default DefaultIdleTimeout; NoIdleTimeout keeps idle connections.
	IdleTimeout time.Duration
	// MaxMessageBytes bounds an incoming frame; a larger one closes its
	// connection with 1009. Default DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// OriginMethods restricts origins to the methods listed for them; an
	// origin that is not a key may call every method. Connections without
	// Origin are never restricted by it.
	OriginMethods map[string][]string
	// OriginPINEntry says where the person types the PINs of each
	// origin's calls; an origin that is not a key, a local program and
	// the agent's own page have PINEntryEither.
	OriginPINEntry map[string]PINEntry
	// ConsentTimeout is how long a call held for the person's consent
	// waits for each answer on the consent page (CONSENT_TIMEOUT after).
	// Default DefaultConsentTimeout.
	ConsentTimeout time.Duration
	// TLS says the agent is served over HTTPS/WSS, which makes its own
	// origin https://…. ServeTLS implies it.
	TLS bool
	// Version is the agent version /healthz reports.
	Version string
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// PingInterval is how often the agent pings each peer, and PongWait how
	// long a peer may stay silent (no pong, no message) before it is dropped.
	PingInterval time.Duration
	PongWait     time.Duration
	// RequestTimeout bounds reading one HTTP request, its header and any
	// body, from the first byte (for the first request on a connection,
	// from the connect); a client that takes longer is disconnected, so
	// slow or silent sockets cannot pile up before the upgrade. It also
	// bounds writing the handshake's response. Default
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
}
