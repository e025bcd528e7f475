package ws

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/agent"
)

// TestReasonCodes pins every row of PROTOCOL.md section 3.
func TestReasonCodes(t *testing.T) {
	table := []struct {
		code   int
		reason agent.Reason
		name   string
	}{
		{-32700, agent.ReasonParseError, "PARSE_ERROR"},
		{-32600, agent.ReasonInvalidRequest, "INVALID_REQUEST"},
		{-32601, agent.ReasonMethodNotFound, "METHOD_NOT_FOUND"},
		{-32602, agent.ReasonInvalidParams, "INVALID_PARAMS"},
		{-32603, agent.ReasonInternal, "INTERNAL"},
		{1001, agent.ReasonTokenNotFound, "TOKEN_NOT_FOUND"},
		{1002, agent.ReasonObjectNotFound, "OBJECT_NOT_FOUND"},
		{1003, agent.ReasonKeyNotFound, "KEY_NOT_FOUND"},
		{1010, agent.ReasonPINIncorrect, "PIN_INCORRECT"},
		{1011, agent.ReasonPINLocked, "PIN_LOCKED"},
		{1012, agent.ReasonPINFinalTry, "PIN_FINAL_TRY"},
		{1013, agent.ReasonPINInvalid, "PIN_INVALID"},
		{1014, agent.ReasonSOPINIncorrect, "SO_PIN_INCORRECT"},
		{1015, agent.ReasonSOPINLocked, "SO_PIN_LOCKED"},
		{1020, agent.ReasonMechanism, "MECHANISM_UNSUPPORTED"},
		{1021, agent.ReasonReadOnly, "TOKEN_READ_ONLY"},
		{1030, agent.ReasonPermission, "PERMISSION_DENIED"},
		{1031, agent.ReasonRateLimited, "RATE_LIMITED"},
		{1040, agent.ReasonTokenRemoved, "TOKEN_REMOVED"},
		{1041, agent.ReasonDeviceError, "DEVICE_ERROR"},
	}
	if len(codes) != len(table) {
		t.Errorf("codes has %d reasons, the protocol %d", len(codes), len(table))
	}
	for _, tt := range table {
		if string(tt.reason) != tt.name {
			t.Errorf("agent reason %q, protocol says %q", tt.reason, tt.name)
		}
		obj := newErrorObject(&agent.Error{Reason: tt.reason, Message: "m", Data: map[string]any{"countLow": true}})
		if obj.Code != tt.code || obj.Data["reason"] != tt.name || obj.Data["countLow"] != true || obj.Message != "m" {
			t.Errorf("%s: got %+v, want code %d with reason and data", tt.name, obj, tt.code)
		}
	}
}

func TestErrorObject(t *testing.T) {
	// An unknown reason keeps its name but gets INTERNAL's code.
	if obj := newErrorObject(&agent.Error{Reason: "NEW_REASON", Message: "m"}); obj.Code != -32603 || obj.Data["reason"] != "NEW_REASON" {
		t.Errorf("unknown reason: %+v", obj)
	}
	// No reason is INTERNAL; data cannot override the reason.
	obj := newErrorObject(&agent.Error{Data: map[string]any{"reason": "FAKE", "retryAfterSeconds": 60}})
	if obj.Code != -32603 || obj.Data["reason"] != "INTERNAL" || obj.Data["retryAfterSeconds"] != 60 || obj.Message == "" {
		t.Errorf("empty reason: %+v", obj)
	}
	// Errors that are not *agent.Error are INTERNAL; wrapped ones are found.
	if e := asAgentError(errors.New("boom")); e.Reason != agent.ReasonInternal || e.Message != "boom" {
		t.Errorf("plain error: %+v", e)
	}
	wrapped := fmt.Errorf("x: %w", agent.Errorf(agent.ReasonTokenRemoved, "gone"))
	if e := asAgentError(wrapped); e.Reason != agent.ReasonTokenRemoved {
		t.Errorf("wrapped error: %+v", e)
	}
	// Data that cannot be marshalled still gives a response with the reason.
	frame := encodeError(json.RawMessage(`7`), &agent.Error{Reason: agent.ReasonDeviceError, Message: "m", Data: map[string]any{"bad": make(chan int)}})
	if want := `{"jsonrpc":"2.0","id":7,"error":{"code":1041,"message":"m","data":{"reason":"DEVICE_ERROR"}}}`; string(frame) != want {
		t.Errorf("unmarshallable data: %s, want %s", frame, want)
	}
}

func TestEncodeKeepsIDAsSent(t *testing.T) {
	for _, id := range []string{`"a<b>&c"`, `1e3`, `1.50`, `-0`, `12345678901234567890123`, `"\u00e9"`, `null`} {
		frame := encodeError(json.RawMessage(id), agent.Errorf(agent.ReasonInternal, "x"))
		var members map[string]json.RawMessage
		if err := json.Unmarshal(frame, &members); err != nil {
			t.Fatal(err)
		}
		if string(members["id"]) != id {
			t.Errorf("id %s came back as %s", id, members["id"])
		}
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name   string
		frame  string
		reason agent.Reason // empty: accepted
		id     string       // the id of the error response, or of the request ("" for none)
		method string
		params string
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"agent.info","params":{}}`, "", "1", "agent.info", "{}"},
		{"no params", `{"jsonrpc":"2.0","id":1,"method":"agent.info"}`, "", "1", "agent.info", ""},
		{"string id", `{"jsonrpc":"2.0","id":"abc","method":"m"}`, "", `"abc"`, "m", ""},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"m"}`, "", "null", "m", ""},
		{"float id kept as sent", `{"jsonrpc":"2.0","id":1.50,"method":"m"}`, "", "1.50", "m", ""},
		{"negative id", `{"jsonrpc":"2.0","id":-7,"method":"m"}`, "", "-7", "m", ""},
		{"notification", `{"jsonrpc":"2.0","method":"m","params":{"a":1}}`, "", "", "m", `{"a":1}`},
		{"extra members ignored", `{"jsonrpc":"2.0","id":1,"method":"m","extra":[1,2]}`, "", "1", "m", ""},
		{"whitespace around", " \n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}\n", "", "1", "m", ""},
		{"empty method is a string", `{"jsonrpc":"2.0","id":1,"method":""}`, "", "1", "", ""},

		{"not JSON", `{"jsonrpc":"2.0",`, agent.ReasonParseError, "null", "", ""},
		{"empty frame", ``, agent.ReasonParseError, "null", "", ""},
		{"garbage", `hello`, agent.ReasonParseError, "null", "", ""},
		{"trailing garbage", `{"jsonrpc":"2.0","id":1,"method":"m"} x`, agent.ReasonParseError, "null", "", ""},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}", agent.ReasonParseError, "null", "", ""},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"m"}]`, agent.ReasonInvalidRequest, "null", "", ""},
		{"empty batch", `[]`, agent.ReasonInvalidRequest, "null", "", ""},
		{"string", `"request"`, agent.ReasonInvalidRequest, "null", "", ""},
		{"number", `1`, agent.ReasonInvalidRequest, "null", "", ""},
		{"null", `null`, agent.ReasonInvalidRequest, "null", "", ""},
		{"no jsonrpc", `{"id":1,"method":"m"}`, agent.ReasonInvalidRequest, "1", "", ""},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,"method":"m"}`, agent.ReasonInvalidRequest, "1", "", ""},
		{"jsonrpc number", `{"jsonrpc":2.0,"id":"x","method":"m"}`, agent.ReasonInvalidRequest, `"x"`, "", ""},
		{"no method", `{"jsonrpc":"2.0","id":1}`, agent.ReasonInvalidRequest, "1", "", ""},
		{"method number", `{"jsonrpc":"2.0","id":1,"method":1}`, agent.ReasonInvalidRequest, "1", "", ""},
		{"method null", `{"jsonrpc":"2.0","id":1,"method":null}`, agent.ReasonInvalidRequest, "1", "", ""},
		{"notification without method", `{"jsonrpc":"2.0"}`, agent.ReasonInvalidRequest, "null", "", ""},
		{"id object", `{"jsonrpc":"2.0","id":{"a":1},"method":"m"}`, agent.ReasonInvalidRequest, "null", "", ""},
		{"id array", `{"jsonrpc":"2.0","id":[1],"method":"m"}`, agent.ReasonInvalidRequest, "null", "", ""},
		{"id bool", `{"jsonrpc":"2.0","id":true,"method":"m"}`, agent.ReasonInvalidRequest, "null", "", ""},
		{"params array", `{"jsonrpc":"2.0","id":1,"method":"m","params":[1]}`, agent.ReasonInvalidRequest, "1", "", ""},
		{"params string", `{"jsonrpc":"2.0","id":1,"method":"m","params":"x"}`, agent.ReasonInvalidRequest, "1", "", ""},
		{"params null", `{"jsonrpc":"2.0","id":1,"method":"m","params":null}`, agent.ReasonInvalidRequest, "1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, perr := parseRequest([]byte(tt.frame))
			if tt.reason != "" {
				if perr == nil {
					t.Fatalf("accepted as %+v, want %s", req, tt.reason)
				}
				if perr.Err.Reason != tt.reason || string(perr.ID) != tt.id {
					t.Fatalf("got %s with id %s, want %s with id %s", perr.Err.Reason, perr.ID, tt.reason, tt.id)
				}
				return
			}
			if perr != nil {
				t.Fatalf("refused: %s %s", perr.Err.Reason, perr.Err.Message)
			}
			if string(req.ID) != tt.id || req.Method != tt.method || string(req.Params) != tt.params {
				t.Fatalf("got id %s method %q params %s, want %s %q %s", req.ID, req.Method, req.Params, tt.id, tt.method, tt.params)
			}
			if req.notification() != (tt.id == "") {
				t.Errorf("notification() = %v", req.notification())
			}
		})
	}
}

func TestParams(t *testing.T) {
	p, err := readParams(json.RawMessage(`{"token":"abc","at":"2027-05-01T02:00:00+02:00","n":1,"nul":null,"Token":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := p.requiredString("token"); err != nil || s != "abc" {
		t.Errorf("token = %q, %v", s, err)
	}
	if at, err := p.optionalTime("at"); err != nil || at.Format("2006-01-02T15:04:05Z07:00") != "2027-05-01T00:00:00Z" {
		t.Errorf("at = %v, %v; want 2027-05-01T00:00:00Z", at, err)
	}
	if at, err := p.optionalTime("missing"); err != nil || !at.IsZero() {
		t.Errorf("absent at = %v, %v", at, err)
	}
	if at, err := p.optionalTime("nul"); err != nil || !at.IsZero() {
		t.Errorf("null at = %v, %v", at, err)
	}
	for _, tt := range []struct {
		name string
		get  func() error
	}{
		{"missing", func() error { _, err := p.requiredString("missing"); return err }},
		{"nul", func() error { _, err := p.requiredString("nul"); return err }},
		{"n", func() error { _, err := p.requiredString("n"); return err }},
		{"n", func() error { _, err := p.optionalTime("n"); return err }},
		{"token", func() error { _, err := p.optionalTime("token"); return err }},
	} {
		err := tt.get()
		var ae *agent.Error
		if !errors.As(err, &ae) || ae.Reason != agent.ReasonInvalidParams {
			t.Errorf("%s: got %v, want INVALID_PARAMS", tt.name, err)
			continue
		}
		if want := fmt.Sprintf("%q", tt.name); !strings.Contains(ae.Message, want) {
			t.Errorf("%s: message %q does not name the field", tt.name, ae.Message)
		}
	}
	// Member names match exactly, not case-insensitively.
	q, _ := readParams(json.RawMessage(`{"TOKEN":"x"}`))
	if _, err := q.requiredString("token"); err == nil {
		t.Error(`"TOKEN" was taken for "token"`)
	}
}

func TestShortMessage(t *testing.T) {
	long := strings.Repeat("a", maxMessageBytes-1) + "é" + "tail"
	for _, tt := range []struct{ name, in, want string }{
		{"short", "token x: not found", "token x: not found"},
		{"exactly the limit", strings.Repeat("a", maxMessageBytes), strings.Repeat("a", maxMessageBytes)},
		{"cut before a split character", long, strings.Repeat("a", maxMessageBytes-1) + "…"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := shortMessage(tt.in); got != tt.want {
				t.Errorf("shortMessage = %.20q… (%d bytes), want %d bytes", got, len(got), len(tt.want))
			}
		})
	}
}

func TestParamStrings(t *testing.T) {
	tests := []struct {
		params string
		want   string
		ok     bool
	}{
		{`{"s":"plain base64+/="}`, "plain base64+/=", true},
		{`{"s":  "spaced"  }`, "spaced", true},
		{`{"s":"quote \" and \\ backslash"}`, `quote " and \ backslash`, true},
		{`{"s":"\u00e9t\u00e9 \ud83d\ude00"}`, "été 😀", true},
		{`{"s":"été"}`, "été", true},
		{`{"s":""}`, "", true},
		{`{"s":5}`, "", false},
		{`{"s":["x"]}`, "", false},
	}
	for _, tt := range tests {
		p, err := readParams(json.RawMessage(tt.params))
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.requiredString("s")
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: requiredString = %q, %v; want %q (ok: %v)", tt.params, got, err, tt.want, tt.ok)
		}
	}
}
