package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/tokenagent/tokenagent/agent"
)

// codes maps each reason of the protocol's error table to its JSON-RPC
// error code.
var codes = map[agent.Reason]int{
	agent.ReasonParseError:     -32700,
	agent.ReasonInvalidRequest: -32600,
	agent.ReasonMethodNotFound: -32601,
	agent.ReasonInvalidParams:  -32602,
	agent.ReasonInternal:       -32603,
	agent.ReasonTokenNotFound:  1001,
	agent.ReasonObjectNotFound: 1002,
	agent.ReasonKeyNotFound:    1003,
	agent.ReasonPINIncorrect:   1010,
	agent.ReasonPINLocked:      1011,
	agent.ReasonPINFinalTry:    1012,
	agent.ReasonPINInvalid:     1013,
	agent.ReasonSOPINIncorrect: 1014,
	agent.ReasonSOPINLocked:    1015,
	agent.ReasonMechanism:      1020,
	agent.ReasonReadOnly:       1021,
	agent.ReasonPermission:     1030,
	agent.ReasonRateLimited:    1031,
	agent.ReasonTokenRemoved:   1040,
	agent.ReasonDeviceError:    1041,
}

// code returns the JSON-RPC error code of reason; a reason this package
// does not know is reported with INTERNAL's code.
func code(reason agent.Reason) int {
	if c, ok := codes[reason]; ok {
		return c
	}
	return codes[agent.ReasonInternal]
}

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
	Err *agent.Error
}

// parseRequest checks one frame against the JSON-RPC 2.0 request format. On
// failure the returned envelopeError carries the id when it could be read,
// else null, and is always answered, even when the frame looks like a
// notification: a malformed frame cannot be known to be one.
func parseRequest(frame []byte) (*request, *envelopeError) {
	if !utf8.Valid(frame) || !json.Valid(frame) {
		return nil, &envelopeError{nullID, agent.Errorf(agent.ReasonParseError, "parse error: the frame is not JSON")}
	}
	trimmed := bytes.TrimLeft(frame, " \t\r\n")
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		return nil, &envelopeError{nullID, agent.Errorf(agent.ReasonInvalidRequest, "invalid request: batches are not supported")}
	case len(trimmed) == 0 || trimmed[0] != '{':
		return nil, &envelopeError{nullID, agent.Errorf(agent.ReasonInvalidRequest, "invalid request: not a JSON-RPC 2.0 request object")}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(frame, &fields); err != nil {
		return nil, &envelopeError{nullID, agent.Errorf(agent.ReasonInvalidRequest, "invalid request: not a JSON-RPC 2.0 request object")}
	}
	req := &request{}
	if id, ok := fields["id"]; ok {
		if !validID(id) {
			return nil, &envelopeError{nullID, agent.Errorf(agent.ReasonInvalidRequest, "invalid request: id must be a string, a number or null")}
		}
		req.ID = id
	}
	answerID := req.ID
	if answerID == nil {
		answerID = nullID
	}
	invalid := func(msg string) (*request, *envelopeError) {
		return nil, &envelopeError{answerID, agent.Errorf(agent.ReasonInvalidRequest, "invalid request: %s", msg)}
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

// errorObject is a JSON-RPC error object.
type errorObject struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
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

// asAgentError returns err as an *agent.Error; anything else becomes
// INTERNAL with err's text.
func asAgentError(err error) *agent.Error {
	var ae *agent.Error
	if errors.As(err, &ae) {
		return ae
	}
	return &agent.Error{Reason: agent.ReasonInternal, Message: err.Error()}
}

// newErrorObject builds the error object for err: the code of its reason,
// its message, and data with the reason and the error's data fields.
func newErrorObject(err *agent.Error) errorObject {
	reason := err.Reason
	if reason == "" {
		reason = agent.ReasonInternal
	}
	data := make(map[string]any, len(err.Data)+1)
	for k, v := range err.Data {
		data[k] = v
	}
	data["reason"] = string(reason)
	msg := shortMessage(err.Message)
	if msg == "" {
		msg = string(reason)
	}
	return errorObject{Code: code(reason), Message: msg, Data: data}
}

// maxMessageBytes bounds an error message: messages quote what was sent (a
// method name, a token id), and a page sending megabytes should not get
// them back in every error.
const maxMessageBytes = 1024

// shortMessage cuts msg to maxMessageBytes at a character boundary and
// marks the cut.
func shortMessage(msg string) string {
	if len(msg) <= maxMessageBytes {
		return msg
	}
	cut := maxMessageBytes
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
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
func encodeError(id json.RawMessage, err *agent.Error) []byte {
	b, encErr := encode(errorResponse{JSONRPC: "2.0", ID: id, Error: newErrorObject(err)})
	if encErr != nil {
		// Only data from an agent error can fail to marshal; answer without it.
		obj := newErrorObject(&agent.Error{Reason: err.Reason, Message: err.Message})
		b, _ = encode(errorResponse{JSONRPC: "2.0", ID: id, Error: obj})
	}
	return b
}
