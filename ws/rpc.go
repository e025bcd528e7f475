package ws

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// nullID is the id of a response to a request whose id could not be read.
var nullID = json.RawMessage("null")

// request is a JSON-RPC 2.0 request that passed the envelope checks.
type request struct {
	ID     json.RawMessage // exactly as sent; nil for a notification
	Method string
	Params json.RawMessage // an object, or nil when absent
}

// notification reports whether the request expects no response.
func (r *request) notification() bool { return r.ID == nil }

// envelopeError is a request refused before its method runs: the id to
// answer with (never nil) and the error.
type envelopeError struct {
	ID  json.RawMessage
	Err *wireError
}

// parseRequest checks one frame against the JSON-RPC 2.0 request format. On
// failure the returned envelopeError carries the id when it could be read,
// else null, and is always answered, even when the frame looks like a
// notification: a malformed frame cannot be known to be one.
func parseRequest(frame []byte) (*request, *envelopeError) {
	if !utf8.Valid(frame) || !json.Valid(frame) {
		return nil, &envelopeError{nullID, wireErrorf(reasonParseError, "parse error: the frame is not JSON")}
	}
	trimmed := bytes.TrimLeft(frame, " \t\r\n")
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		return nil, &envelopeError{nullID, wireErrorf(reasonInvalidRequest, "invalid request: batches are not supported")}
	case len(trimmed) == 0 || trimmed[0] != '{':
		return nil, &envelopeError{nullID, wireErrorf(reasonInvalidRequest, "invalid request: not a JSON-RPC 2.0 request object")}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(frame, &fields); err != nil {
		return nil, &envelopeError{nullID, wireErrorf(reasonInvalidRequest, "invalid request: not a JSON-RPC 2.0 request object")}
	}
	req := &request{}
	if id, ok := fields["id"]; ok {
		if !validID(id) {
			return nil, &envelopeError{nullID, wireErrorf(reasonInvalidRequest, "invalid request: id must be a string, a number or null")}
		}
		req.ID = id
	}
	answerID := req.ID
	if answerID == nil {
		answerID = nullID
	}
	invalid := func(msg string) (*request, *envelopeError) {
		return nil, &envelopeError{answerID, wireErrorf(reasonInvalidRequest, "invalid request: %s", msg)}
	}
	var version string
	if v, ok := fields["jsonrpc"]; !ok || json.Unmarshal(v, &version) != nil || version != "2.0" {
		return invalid(`jsonrpc must be "2.0"`)
	}
	m, ok := fields["method"]
	if !ok || kind(m) != '"' || json.Unmarshal(m, &req.Method) != nil {
		return invalid("method must be a string")
	}
	if p, ok := fields["params"]; ok {
		if kind(p) != '{' {
			return invalid("params must be an object")
		}
		req.Params = p
	}
	return req, nil
}

// kind returns the first byte of a JSON value, which tells its type:
// '{', '[', '"', 'n', 't', 'f', or a digit or '-' for a number.
func kind(v json.RawMessage) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// validID reports whether a JSON value may be a request id: a string, a
// number or null.
func validID(id json.RawMessage) bool {
	switch k := kind(id); {
	case k == '"', k == 'n', k == '-', k >= '0' && k <= '9':
		return true
	}
	return false
}

type errorResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   errorObject     `json:"error"`
}

type resultResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result"`
}

// encode marshals a response without escaping HTML characters, so that the
// id goes back exactly as it came.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// encodeError is the response frame for an error.
func encodeError(id json.RawMessage, err error) []byte {
	b, _ := encode(errorResponse{JSONRPC: "2.0", ID: id, Error: errorFor(err)}) // id is JSON that parsed
	return b
}
