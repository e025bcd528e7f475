// Package ws serves tokenagent's wire protocol (PROTOCOL.md): the HTTP routes
// /healthz, / (the self-service page, with its files under /app/),
// /tokenagent.js, /tokenagent.d.ts and /ws, and JSON-RPC 2.0
// over WebSocket on /ws. It owns
// everything that is about the wire and nothing below it: the handshake
// checks (Host, Origin, connection limit), frame rules, the JSON-RPC
// envelope, the method table with parameter decoding, the JSON shapes of
// results (field names, nulls, base64, RFC 3339 times) and the mapping of
// agent error reasons to JSON-RPC codes. The use cases themselves are the
// agent package's; ws calls its exported methods and never the token layer.
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
// A request's context ends when its connection closes. A panic in a method
// is recovered and answered INTERNAL. Connections are bounded by
// Config.MaxConnections, so the whole server runs a bounded number of
// goroutines; a socket that has not upgraded holds one goroutine, for at
// most Config.RequestTimeout while a request arrives and 60 s idle between
// requests.
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
