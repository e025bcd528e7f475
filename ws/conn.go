package ws

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one WebSocket connection: the goroutine that upgraded it reads,
// writeLoop writes, and each request runs on a goroutine of its own.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	origin string // normalised; empty without an Origin header
	log    *slog.Logger

	ctx    context.Context // the requests' context; cancelled when the connection ends
	cancel context.CancelFunc

	send       chan []byte   // response frames for the writer
	pongs      chan []byte   // pong payloads for the writer
	slots      chan struct{} // one token per request in flight
	reqs       sync.WaitGroup
	writerDone chan struct{}

	closeOnce sync.Once
	closing   chan struct{} // closed once the connection is being closed
	closeCode int           // close frame the writer sends; 0 for none
	closeText string

	deadlineMu sync.Mutex
	noExtend   bool // set when closing: the read deadline stays short

	events eventsState // the events subscription (events.go)
}

func newConn(s *Server, wsc *websocket.Conn, origin, remote string) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	logOrigin := origin
	if logOrigin == "" {
		logOrigin = "local"
	}
	return &conn{
		s:          s,
		ws:         wsc,
		origin:     origin,
		log:        s.log.With("origin", logOrigin, "remote", remote),
		ctx:        ctx,
		cancel:     cancel,
		send:       make(chan []byte, sendQueue),
		pongs:      make(chan []byte, 1),
		slots:      make(chan struct{}, s.inFlight),
		writerDone: make(chan struct{}),
		closing:    make(chan struct{}),
	}
}

// serve runs the connection until it ends and everything it started is done.
func (c *conn) serve() {
	c.log.Debug("connection opened")
	c.ws.SetReadLimit(c.s.cfg.MaxMessageBytes)
	c.extendDeadline()
	c.ws.SetPongHandler(func(string) error {
		c.extendDeadline()
		return nil
	})
	c.ws.SetPingHandler(func(data string) error {
		c.extendDeadline()
		select {
		case c.pongs <- []byte(data):
		default: // a pong is pending already; it answers this ping too
		}
		return nil
	})
	go c.writeLoop()

	why, drain := c.readLoop()
	c.cancel()
	c.close(0, "")
	<-c.writerDone
	c.finish(drain)
	c.reqs.Wait()
	c.log.Debug("connection closed", "why", why)
}

// readLoop reads frames until the connection fails or the close handshake
// ends. It says why, and whether the peer may still have data in flight
// that should be drained before the socket is closed.
func (c *conn) readLoop() (why string, drain bool) {
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			return c.readError(err)
		}
		if c.isClosing() {
			continue // waiting for the peer's close frame; NextReader discards the rest
		}
		c.extendDeadline()
		if typ != websocket.TextMessage {
			c.log.Info("closing connection", "reason", "binary frame")
			c.close(websocket.CloseUnsupportedData, "binary frames are not supported")
			continue
		}
		frame, err := io.ReadAll(r)
		if err != nil {
			return c.readError(err)
		}
		c.dispatch(frame)
	}
}

// readError classifies what ended readLoop.
func (c *conn) readError(err error) (why string, drain bool) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
		return "connection lost", false // gorilla's name for EOF without a close frame
	case errors.As(err, &ce):
		return "close frame " + ce.Error(), true
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has sent the close frame with 1009.
		c.log.Info("closing connection", "reason", "frame larger than max_message_bytes",
			"maxMessageBytes", c.s.cfg.MaxMessageBytes)
		return "frame too large", true
	case errors.As(err, &ne) && ne.Timeout() && c.isClosing():
		return "peer did not answer the close frame", false
	case errors.As(err, &ne) && ne.Timeout():
		c.log.Info("dropping connection", "reason", "peer not answering pings")
		return "peer not answering pings", false
	default:
		return err.Error(), false
	}
}

// slotWaitMessage is logged (at debug level) when a request waits for one
// of the connection's requests in flight to end.
const slotWaitMessage = "request waits for a free slot"

// dispatch checks one frame and starts its request, waiting for a free
// slot when the connection has too many requests in flight.
func (c *conn) dispatch(frame []byte) {
	req, perr := parseRequest(frame)
	if perr != nil {
		c.sendFrame(encodeError(perr.ID, perr.Err))
		return
	}
	h, ok := c.s.methods[req.Method]
	if !ok {
		if !req.notification() {
			c.sendFrame(encodeError(req.ID, wireErrorf(reasonMethodNotFound, "method not found: %q", req.Method)))
		}
		return
	}
	if !c.s.methodAllowed(c.origin, req.Method) {
		c.log.Info("request refused", "reason", string(reasonPermission), "method", req.Method)
		if !req.notification() {
			c.sendFrame(encodeError(req.ID, wireErrorf(reasonPermission, "this origin may not call %s", req.Method)))
		}
		return
	}
	select {
	case c.slots <- struct{}{}:
	default:
		c.log.Debug(slotWaitMessage, "method", req.Method, "inFlight", cap(c.slots))
		select {
		case c.slots <- struct{}{}:
		case <-c.closing:
			return
		}
	}
	c.reqs.Add(1)
	go func() {
		defer c.reqs.Done()
		defer func() { <-c.slots }()
		c.run(req, h)
	}()
}

// run carries out one request and queues its response.
func (c *conn) run(req *request, h handler) {
	start := time.Now()
	frame, outcome := c.execute(req, h)
	c.log.Debug("call", "method", req.Method, "outcome", outcome, "duration", time.Since(start))
	if !req.notification() {
		c.sendFrame(frame)
	}
}

// execute runs h and encodes its response (none for a notification). A
// panic anywhere in there becomes INTERNAL; the log gets the panic and the
// stack, never the params.
func (c *conn) execute(req *request, h handler) (frame []byte, outcome string) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("panic in method handler", "method", req.Method, "panic", p, "stack", string(debug.Stack()))
			frame, outcome = encodeError(req.ID, wireErrorf(reasonInternal, "internal error in %s", req.Method)), string(reasonInternal)
		}
	}()
	result, err := h(c.ctx, c, req.Params)
	if err != nil {
		outcome := errorFor(err).Data.Reason
		if req.notification() {
			return nil, outcome
		}
		return encodeError(req.ID, err), outcome
	}
	if req.notification() {
		return nil, "ok"
	}
	frame, err = encode(resultResponse{JSONRPC: "2.0", ID: req.ID, Result: result})
	if err != nil {
		c.log.Error("encoding result", "method", req.Method, "err", err)
		return encodeError(req.ID, wireErrorf(reasonInternal, "internal error: encoding the result of %s", req.Method)), string(reasonInternal)
	}
	return frame, "ok"
}

// sendFrame queues a frame for the writer, waiting while the queue is full;
// it drops the frame once the connection is closing.
func (c *conn) sendFrame(frame []byte) {
	select {
	case c.send <- frame:
	case <-c.closing:
	}
}

// writeLoop owns the socket's writes: responses, pings, pongs and the close
// frame. (gorilla itself writes from readLoop's calls only to echo a peer's
// close frame and to send 1009, through WriteControl, which it allows
// concurrently with this goroutine's writes.)
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	ping := time.NewTicker(c.s.cfg.PingInterval)
	defer ping.Stop()
	for {
		var err error
		select {
		case frame := <-c.send:
			err = c.write(frame)
		case data := <-c.pongs:
			err = c.ws.WriteControl(websocket.PongMessage, data, time.Now().Add(writeWait))
		case <-ping.C:
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
		case <-c.closing:
			c.writeClose()
			return
		}
		if err != nil {
			c.log.Debug("write failed", "err", err)
			c.close(0, "")
			_ = c.ws.NetConn().Close() // ends readLoop
			return
		}
	}
}

func (c *conn) write(frame []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// writeClose flushes the responses already queued and, when the close was
// ours, sends the close frame and gives the peer closeGrace to answer it.
func (c *conn) writeClose() {
	for flushed := false; !flushed; {
		select {
		case frame := <-c.send:
			if c.write(frame) != nil {
				return
			}
		default:
			flushed = true
		}
	}
	if c.closeCode == 0 {
		return
	}
	msg := websocket.FormatCloseMessage(c.closeCode, c.closeText)
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait)); err != nil {
		_ = c.ws.NetConn().Close()
		return
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
}

// close starts closing the connection; the writer sends a close frame with
// code unless code is 0. Only the first call counts.
func (c *conn) close(code int, text string) {
	c.closeOnce.Do(func() {
		c.deadlineMu.Lock()
		c.noExtend = true
		c.deadlineMu.Unlock()
		c.closeCode, c.closeText = code, text
		close(c.closing)
	})
}

func (c *conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// extendDeadline gives the peer PongWait more to send something, unless the
// connection is closing.
func (c *conn) extendDeadline() {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	if !c.noExtend {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.PongWait))
	}
}

// finish closes the socket. With drain it first half-closes and reads what
// the peer still sends, for up to closeGrace, so that unread data does not
// turn the close into a reset that could destroy the close frame in flight.
func (c *conn) finish(drain bool) {
	nc := c.ws.NetConn()
	if cw, ok := nc.(interface{ CloseWrite() error }); ok && drain {
		if cw.CloseWrite() == nil {
			_ = nc.SetReadDeadline(time.Now().Add(closeGrace))
			_, _ = io.Copy(io.Discard, nc)
		}
	}
	_ = c.ws.Close()
}

// closeNow sends a close frame and closes the socket at once, for a
// connection that is not being served.
func (c *conn) closeNow(code int, text string) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(writeWait))
	_ = c.ws.Close()
	c.cancel()
}

// abort closes the socket without a goodbye, ending both loops.
func (c *conn) abort() {
	c.cancel()
	_ = c.ws.NetConn().Close()
}
