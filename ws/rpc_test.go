package ws

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/agent"
)

// TestReasonCodes pins every row of PROTOCOL.md section 3.
func TestReasonCodes(t *testing.T) {
	table := []struct {
		code   int
		reason reason
		name   string
	}{
		{-32700, reasonParseError, "PARSE_ERROR"},
		{-32600, reasonInvalidRequest, "INVALID_REQUEST"},
		{-32601, reasonMethodNotFound, "METHOD_NOT_FOUND"},
		{-32602, reasonInvalidParams, "INVALID_PARAMS"},
		{-32603, reasonInternal, "INTERNAL"},
		{1001, reasonTokenNotFound, "TOKEN_NOT_FOUND"},
		{1002, reasonObjectNotFound, "OBJECT_NOT_FOUND"},
		{1003, reasonKeyNotFound, "KEY_NOT_FOUND"},
		{1010, reasonPINIncorrect, "PIN_INCORRECT"},
		{1011, reasonPINLocked, "PIN_LOCKED"},
		{1012, reasonPINFinalTry, "PIN_FINAL_TRY"},
		{1013, reasonPINInvalid, "PIN_INVALID"},
		{1014, reasonSOPINIncorrect, "SO_PIN_INCORRECT"},
		{1015, reasonSOPINLocked, "SO_PIN_LOCKED"},
		{1020, reasonMechanism, "MECHANISM_UNSUPPORTED"},
		{1021, reasonReadOnly, "TOKEN_READ_ONLY"},
		{1030, reasonPermission, "PERMISSION_DENIED"},
		{1031, reasonRateLimited, "RATE_LIMITED"},
		{1040, reasonTokenRemoved, "TOKEN_REMOVED"},
		{1041, reasonDeviceError, "DEVICE_ERROR"},
		{1050, reasonConsentDenied, "CONSENT_DENIED"},
		{1051, reasonConsentTimeout, "CONSENT_TIMEOUT"},
		{1052, reasonConsentUnavailable, "CONSENT_UNAVAILABLE"},
	}
	if len(codes) != len(table) {
		t.Errorf("codes has %d reasons, the protocol %d", len(codes), len(table))
	}
	for _, tt := range table {
		if string(tt.reason) != tt.name {
			t.Errorf("reason %q, protocol says %q", tt.reason, tt.name)
		}
		obj := errorFor(wireErrorf(tt.reason, "m"))
		if obj.Code != tt.code || obj.Data.Reason != tt.name || obj.Message != "m" {
			t.Errorf("%s: got %+v, want code %d with the reason", tt.name, obj, tt.code)
		}
	}
}

// TestEveryKindHasAReason checks that ws answers every kind of agent
// failure with a reason of the protocol, the one the audit log records
// for it (PROTOCOL.md section 5).
func TestEveryKindHasAReason(t *testing.T) {
	for _, k := range agent.Kinds() {
		r, ok := kindReasons[k]
		if _, known := codes[r]; !ok || !known {
			t.Errorf("agent kind %s has no reason of the protocol", k)
		}
		if string(r) != k.String() {
			t.Errorf("agent kind %s is answered %s; the audit log records %s", k, r, k)
		}
		if obj := errorFor(agent.Errorf(k, "m")); obj.Data.Reason != string(r) || obj.Code != codes[r] {
			t.Errorf("agent kind %s: got %+v", k, obj)
		}
	}
}

// TestErrorData checks the data members each kind's details become.
func TestErrorData(t *testing.T) {
	index := 3
	tests := []struct {
		err  *agent.Error
		want string
	}{
		{&agent.Error{Kind: agent.PINIncorrect, Message: "m", Tries: &agent.PINTries{CountLow: true}},
			`{"countLow":true,"finalTry":false,"reason":"PIN_INCORRECT"}`},
		{&agent.Error{Kind: agent.SOPINIncorrect, Message: "m", Tries: &agent.PINTries{FinalTry: true}},
			`{"countLow":false,"finalTry":true,"reason":"SO_PIN_INCORRECT"}`},
		{&agent.Error{Kind: agent.PINInvalid, Message: "m", Length: &agent.PINLength{Min: 4, Max: 8}},
			`{"maxLen":8,"minLen":4,"reason":"PIN_INVALID"}`},
		{&agent.Error{Kind: agent.RateLimited, Message: "m", RetryAfter: 59500 * time.Millisecond},
			`{"reason":"RATE_LIMITED","retryAfterSeconds":60}`},
		{&agent.Error{Kind: agent.InvalidInput, Message: "m", Item: &index},
			`{"index":3,"reason":"INVALID_PARAMS"}`},
		{&agent.Error{Kind: agent.PINLocked, Message: "m"}, `{"reason":"PIN_LOCKED"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(errorFor(tt.err).Data)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: data %s, %v; want %s", tt.err.Kind, b, err, tt.want)
		}
	}
}

func TestErrorObject(t *testing.T) {
	// An unknown reason keeps its name but gets INTERNAL's code.
	if obj := errorFor(wireErrorf("NEW_REASON", "m")); obj.Code != -32603 || obj.Data.Reason != "NEW_REASON" {
		t.Errorf("unknown reason: %+v", obj)
	}
	// An agent error without a kind is INTERNAL, and has a message.
	obj := errorFor(&agent.Error{})
	if obj.Code != -32603 || obj.Data.Reason != "INTERNAL" || obj.Message == "" {
		t.Errorf("empty reason: %+v", obj)
	}
	// Errors that are not the server's or the agent's are INTERNAL;
	// wrapped ones are found.
	if obj := errorFor(errors.New("boom")); obj.Data.Reason != "INTERNAL" || obj.Message != "boom" {
		t.Errorf("plain error: %+v", obj)
	}
	wrapped := fmt.Errorf("x: %w", agent.Errorf(agent.TokenRemoved, "gone"))
	if obj := errorFor(wrapped); obj.Data.Reason != "TOKEN_REMOVED" {
		t.Errorf("wrapped error: %+v", obj)
	}
	frame := encodeError(json.RawMessage(`7`), &agent.Error{Kind: agent.DeviceError, Message: "m"})
	if want := `{"jsonrpc":"2.0","id":7,"error":{"code":1041,"message":"m","data":{"reason":"DEVICE_ERROR"}}}`; string(frame) != want {
		t.Errorf("frame %s, want %s", frame, want)
	}
}

// TestEventMethod names the notification of each event.
func TestEventMethod(t *testing.T) {
	if m := eventMethod(agent.Event{Tokens: &agent.TokensChanged{}}); m != "tokens.changed" {
		t.Errorf("tokens event: %s", m)
	}
	if m := eventMethod(agent.Event{Readers: &agent.ReadersChanged{}}); m != "readers.changed" {
		t.Errorf("readers event: %s", m)
	}
}

func TestEncodeKeepsIDAsSent(t *testing.T) {
	for _, id := range []string{`"a<b>&c"`, `1e3`, `1.50`, `-0`, `12345678901234567890123`, `"\u00e9"`, `null`} {
		frame := encodeError(json.RawMessage(id), agent.Errorf(agent.Internal, "x"))
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
		reason reason // empty: accepted
		id     string // the id of the error response, or of the request ("" for none)
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

		{"not JSON", `{"jsonrpc":"2.0",`, reasonParseError, "null", "", ""},
		{"empty frame", ``, reasonParseError, "null", "", ""},
		{"garbage", `hello`, reasonParseError, "null", "", ""},
		{"trailing garbage", `{"jsonrpc":"2.0","id":1,"method":"m"} x`, reasonParseError, "null", "", ""},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}", reasonParseError, "null", "", ""},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"m"}]`, reasonInvalidRequest, "null", "", ""},
		{"empty batch", `[]`, reasonInvalidRequest, "null", "", ""},
		{"string", `"request"`, reasonInvalidRequest, "null", "", ""},
		{"number", `1`, reasonInvalidRequest, "null", "", ""},
		{"null", `null`, reasonInvalidRequest, "null", "", ""},
		{"no jsonrpc", `{"id":1,"method":"m"}`, reasonInvalidRequest, "1", "", ""},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,"method":"m"}`, reasonInvalidRequest, "1", "", ""},
		{"jsonrpc number", `{"jsonrpc":2.0,"id":"x","method":"m"}`, reasonInvalidRequest, `"x"`, "", ""},
		{"no method", `{"jsonrpc":"2.0","id":1}`, reasonInvalidRequest, "1", "", ""},
		{"method number", `{"jsonrpc":"2.0","id":1,"method":1}`, reasonInvalidRequest, "1", "", ""},
		{"method null", `{"jsonrpc":"2.0","id":1,"method":null}`, reasonInvalidRequest, "1", "", ""},
		{"notification without method", `{"jsonrpc":"2.0"}`, reasonInvalidRequest, "null", "", ""},
		{"id object", `{"jsonrpc":"2.0","id":{"a":1},"method":"m"}`, reasonInvalidRequest, "null", "", ""},
		{"id array", `{"jsonrpc":"2.0","id":[1],"method":"m"}`, reasonInvalidRequest, "null", "", ""},
		{"id bool", `{"jsonrpc":"2.0","id":true,"method":"m"}`, reasonInvalidRequest, "null", "", ""},
		{"params array", `{"jsonrpc":"2.0","id":1,"method":"m","params":[1]}`, reasonInvalidRequest, "1", "", ""},
		{"params string", `{"jsonrpc":"2.0","id":1,"method":"m","params":"x"}`, reasonInvalidRequest, "1", "", ""},
		{"params null", `{"jsonrpc":"2.0","id":1,"method":"m","params":null}`, reasonInvalidRequest, "1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, perr := parseRequest([]byte(tt.frame))
			if tt.reason != "" {
				if perr == nil {
					t.Fatalf("accepted as %+v, want %s", req, tt.reason)
				}
				if perr.Err.reason != tt.reason || string(perr.ID) != tt.id {
					t.Fatalf("got %s with id %s, want %s with id %s", perr.Err.reason, perr.ID, tt.reason, tt.id)
				}
				return
			}
			if perr != nil {
				t.Fatalf("refused: %s %s", perr.Err.reason, perr.Err.msg)
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
		var pe *paramsError
		if !errors.As(err, &pe) || errorFor(err).Data.Reason != "INVALID_PARAMS" {
			t.Errorf("%s: got %v, want INVALID_PARAMS", tt.name, err)
			continue
		}
		if want := fmt.Sprintf("%q", tt.name); !strings.Contains(pe.msg, want) {
			t.Errorf("%s: message %q does not name the field", tt.name, pe.msg)
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
