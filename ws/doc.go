// Package ws serves tokenagent's wire protocol (PROTOCOL.md): the HTTP routes
// /healthz, / (the self-service page, with its files under /app/),
// /tokenagent.js, /tokenagent.d.ts, /ws, and /consent (the consent page,
// with its files and its socket under /consent/), and JSON-RPC 2.0
// over WebSocket on /ws. It owns
// everything that is about the wire and nothing below it: the handshake
// checks (Host, Origin, connection limit), frame rules, the JSON-RPC
// envelope, the method table with parameter decoding, the JSON shapes of
// results (field names, nulls, base64, RFC 3339 times), notification
// names and the mapping of the agent's kinds of failure to JSON-RPC codes,
// reasons and data. The use cases themselves are the agent package's; ws
// calls its exported methods and never the token layer.
//
// # Extending
//
//   - A method: document it in docs/PROTOCOL.md section 4, add its row to
//     the method table (methods.go) with the Server method that reads its
//     params (paramSet: the shapes and names of the wire) and shapes its
//     result (wire.go); a PIN-taking method names its PIN member and gets
//     the agent.Call, the audit and the throttle from pinTaking. Methods,
//     and with it the config's [[origin]] methods, follows the table;
//     TestMethodTableIsTheContract checks the table against the contract.
//   - A kind of agent failure: see errors.go, which maps each agent.Kind to
//     its reason, code and data members.
//   - A param: decode it in the method's reader, with its bound (the
//     size a page may send, bounds.go and PROTOCOL.md section 2) checked
//     as it is read; what its value means (required, in range, in
//     conflict with another) is checked by the agent, once.
//
// # Concurrency
//
// Each connection has
//
//   - one reading goroutine (the HTTP handler that upgraded it), which
//     checks each frame, answers envelope errors and starts requests;
//   - one writing goroutine, the only one that writes to the socket
//     (responses, pings, pongs, our close frames), fed by a bounded queue;
//     gorilla itself, inside the reader's calls, writes only the echo of a
//     peer's close frame and the 1009 close frame, through WriteControl,
//     which it allows next to another writer;
//   - a goroutine per request, at most 32 at a time: when they are all busy
//     the reader waits, which pushes back on the peer. Responses carry the
//     request's id and may leave in another order than the requests came.
//
// A PIN-taking call with consent is held on its request's goroutine while
// the person answers on the consent page (consent.go): the consent
// page's socket has one goroutine, its HTTP handler, which reads the
// answers; the held call writes to it. A held call waits at most
// Config.ConsentTimeout for each answer, and a socket no call comes to
// is closed after 15 s, so both stay bounded.
//
// A request's context ends when its connection closes. A panic in a method
// is recovered and answered INTERNAL. Connections are bounded by
// Config.MaxConnections, per origin by Config.MaxConnectionsPerOrigin,
// with places kept for the agent's own page and local programs
// (places.go), so the whole server runs a bounded number of goroutines; a
// socket that has not upgraded holds one goroutine, for at most
// Config.RequestTimeout while a request arrives and 60 s idle between
// requests. The writer closes a connection idle for Config.IdleTimeout.
//
// Shutdown stops the listener, sends every connection a close frame with
// 1001 and waits, bounded by its context, until every connection and every
// request it started has finished. Serve returns ErrServerClosed as soon as
// Shutdown begins; callers wait on Shutdown, not on Serve, for the end.
//
// # Logging
//
// Connections opening and closing are logged at debug level, refusals
// (handshake, permission, oversize or binary frames) at info with the
// reason and the origin. Request params are never logged: later methods
// carry PINs.
package ws
