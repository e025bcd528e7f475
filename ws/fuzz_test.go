package ws

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"maps"
	"math"
	"math/big"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets of this file drive the real decoder, dispatcher and
// handlers over an agent without tokens, so every call that gets past its
// params ends in TOKEN_NOT_FOUND. `go test` runs their seeds (f.Add and
// testdata/fuzz); docs/FUZZING.md says how they were fuzzed.

// restrictedOrigin may call only restrictedMethods (an [[origin]] allow-list).
const restrictedOrigin = "https://shop.example.com"

var restrictedMethods = []string{"agent.info", "sign"}

// errorLog counts the records logged at level ERROR: a recovered panic in a
// handler and a result that cannot be encoded are logged so, and are
// findings even when the client got a well-formed INTERNAL error.
type errorLog struct{ n atomic.Int64 }

func (h *errorLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *errorLog) Handle(context.Context, slog.Record) error    { h.n.Add(1); return nil }
func (h *errorLog) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *errorLog) WithGroup(string) slog.Handler                { return h }

// fuzzServer is a Server over an agent without tokens, with restrictedOrigin
// limited to restrictedMethods, and the count of its ERROR records.
func fuzzServer(f *testing.F) (*Server, *errorLog) {
	errs := &errorLog{}
	s := New(Config{
		AllowNoOrigin: true,
		OriginMethods: map[string][]string{restrictedOrigin: restrictedMethods},
		Logger:        slog.New(errs),
	}, emptyAgent(f))
	return s, errs
}

// exchange dispatches one frame on a fresh connection (without a socket:
// the transport is not what is fuzzed) and returns the frames it queued for
// the writer once every request it started has finished.
func exchange(t *testing.T, s *Server, origin string, frame []byte) [][]byte {
	c := newConn(s, nil, origin, "fuzz", place{})
	c.dispatch(frame)
	// A request holds its slot until its response is queued. (Waiting on
	// c.reqs instead would also wait for an events subscription, which only
	// ends with the connection.)
	for deadline := time.Now().Add(10 * time.Second); len(c.slots) > 0; time.Sleep(10 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatalf("frame %q: request still running after 10s", frame)
		}
	}
	c.close(0, "")
	c.cancel()
	c.reqs.Wait()
	var out [][]byte
	for {
		select {
		case fr := <-c.send:
			out = append(out, fr)
		default:
			return out
		}
	}
}

// response is a response frame as the contract defines it.
type response struct {
	ID     json.RawMessage
	Result json.RawMessage // nil for an error
	Code   int
	Reason reason
}

// checkResponse checks that frame is one JSON-RPC 2.0 response object:
// exactly the members jsonrpc "2.0", id, and one of result and error; an
// error with a non-empty message and data.reason a reason of the contract
// with its code (TestReasonCodes pins the codes to PROTOCOL.md).
func checkResponse(t *testing.T, frame []byte) response {
	t.Helper()
	var m map[string]json.RawMessage
	if !utf8.Valid(frame) || json.Unmarshal(frame, &m) != nil || m == nil {
		t.Fatalf("response %q is not a JSON object", frame)
	}
	var version string
	if json.Unmarshal(m["jsonrpc"], &version) != nil || version != "2.0" {
		t.Fatalf("response %s: jsonrpc is not \"2.0\"", frame)
	}
	id, hasID := m["id"]
	result, hasResult := m["result"]
	rawErr, hasError := m["error"]
	if !hasID || hasResult == hasError || len(m) != 3 {
		t.Fatalf("response %s: want exactly jsonrpc, id and one of result and error", frame)
	}
	r := response{ID: id}
	if hasResult {
		r.Result = result
		return r
	}
	var e struct {
		Code    *int           `json:"code"`
		Message string         `json:"message"`
		Data    map[string]any `json:"data"`
	}
	if err := json.Unmarshal(rawErr, &e); err != nil || e.Code == nil || e.Message == "" {
		t.Fatalf("response %s: error needs an integer code and a message", frame)
	}
	name, _ := e.Data["reason"].(string)
	want, known := codes[reason(name)]
	if !known || want != *e.Code {
		t.Fatalf("response %s: reason %q with code %d is not in the contract", frame, name, *e.Code)
	}
	r.Code, r.Reason = *e.Code, reason(name)
	return r
}

// noTokenMethods succeed without a token; every other method needs one,
// which the agent under test never has.
var noTokenMethods = []string{"agent.info", "tokens.list", "events.subscribe"}

// FuzzFrame sends any bytes as one text frame through the decoder and the
// dispatcher, from a connection without Origin or from restrictedOrigin,
// and checks the answer: one valid response whose id is the request's, as
// sent, or null when it cannot be read; nothing for a notification, unless
// it is refused as an invalid request; PARSE_ERROR exactly for frames that
// are not JSON; never INTERNAL (which a recovered panic gives) and never an
// ERROR log record; PERMISSION_DENIED only for methods outside the
// restricted origin's list; results only from methods that need no token.
func FuzzFrame(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"agent.info","params":{}}`,
		`{"jsonrpc":"2.0","id":"a<b>&c","method":"tokens.list"}`,
		`{"jsonrpc":"2.0","id":null,"method":"events.subscribe","params":{}}`,
		`{"jsonrpc":"2.0","id":12345678901234567890123e400,"method":"certs.list","params":{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f"}}`,
		`{"jsonrpc":"2.0","method":"sign","params":{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","pin":"1234","cert":"01","data":"AA=="}}`,
		`{"jsonrpc":"2.0","id":[1],"method":"agent.info"}`,
		`{"jsonrpc":"1.0","id":1,"method":"agent.info"}`,
		`{"jsonrpc":"2.0","id":1,"method":"no.such"}`,
		`{"jsonrpc":"2.0","id":1,"method":"agent.info","params":[]}`,
		`[{"jsonrpc":"2.0","id":1,"method":"agent.info"}]`,
		"\ufeff{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.info\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"agent.info\"}",
		`{"jsonrpc":"2.0","id":1,"id":{},"method":"agent.info"}`,
		`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		``, `null`, `"x"`, `{`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	s, errs := fuzzServer(f)
	f.Fuzz(func(t *testing.T, frame []byte, restricted bool) {
		origin := ""
		if restricted {
			origin = restrictedOrigin
		}
		logged := errs.n.Load()
		out := exchange(t, s, origin, frame)
		if errs.n.Load() != logged {
			t.Fatalf("frame %q: the server logged an error", frame)
		}

		// What the frame asks for, read independently of parseRequest.
		var req map[string]json.RawMessage
		isObject := utf8.Valid(frame) && json.Unmarshal(frame, &req) == nil && req != nil
		id, hasID := req["id"]
		var method string
		_ = json.Unmarshal(req["method"], &method)

		if len(out) > 1 {
			t.Fatalf("frame %q: %d responses, want at most one", frame, len(out))
		}
		if len(out) == 0 {
			if !isObject || hasID {
				t.Fatalf("frame %q: no response", frame)
			}
			return // a notification
		}
		r := checkResponse(t, out[0])
		wantID := "null"
		if hasID && validID(id) {
			wantID = string(id)
		}
		if string(r.ID) != wantID {
			t.Fatalf("frame %q: response id %s, want %s", frame, r.ID, wantID)
		}
		notJSON := !utf8.Valid(frame) || !json.Valid(frame)
		if notJSON != (r.Reason == reasonParseError) {
			t.Fatalf("frame %q: reason %s, but the frame is JSON: %v", frame, r.Reason, !notJSON)
		}
		if !isObject && !notJSON && r.Reason != reasonInvalidRequest {
			t.Fatalf("frame %q is JSON but no object: reason %s, want INVALID_REQUEST", frame, r.Reason)
		}
		if !hasID && r.Reason != reasonInvalidRequest && r.Reason != reasonParseError {
			t.Fatalf("frame %q: a notification was answered with %s", frame, r.Reason)
		}
		switch r.Reason {
		case reasonInternal:
			t.Fatalf("frame %q: INTERNAL error", frame)
		case reasonPermission:
			if !restricted || slices.Contains(restrictedMethods, method) {
				t.Fatalf("frame %q: PERMISSION_DENIED for an allowed method", frame)
			}
		case reasonMethodNotFound:
			if _, ok := s.methods[method]; ok {
				t.Fatalf("frame %q: METHOD_NOT_FOUND for a method of the table", frame)
			}
		case "":
			if !slices.Contains(noTokenMethods, method) {
				t.Fatalf("frame %q: a result from %s without a token", frame, method)
			}
			if kind(r.Result) != '{' {
				t.Fatalf("frame %q: result %s is not an object", frame, r.Result)
			}
		}
	})
}

// methodNames are the methods of the table in a fixed order, so that a
// FuzzParams input names the same method on every run.
func methodNames(s *Server) []string {
	names := make([]string, 0, len(s.methods))
	for name := range s.methods {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// FuzzParams calls the handler of method methodNames[index % 16] with a
// params object. The methods that need no token succeed; every other ends
// in INVALID_PARAMS or, when its params decode, TOKEN_NOT_FOUND, which only
// a well-formed token id can get to; a sign.batch item error names an index of
// items; and the error message is the same whatever the PINs are, so it
// cannot carry one.
func FuzzParams(f *testing.F) {
	s, errs := fuzzServer(f)
	names := methodNames(s)
	cert := base64.StdEncoding.EncodeToString(testCertificate(f).Raw)
	valid := map[string]string{
		"agent.info":       `{}`,
		"tokens.list":      `{}`,
		"events.subscribe": `{}`,
		"certs.list":       `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f"}`,
		"lifetime.check":   `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","at":"2027-05-01T00:00:00Z"}`,
		"media.check":      `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","cert":"01a2","at":"2027-05-01T00:00:00Z"}`,
		"keys.generate":    `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","pin":"1234","algorithm":"EC-P256","label":"l"}`,
		"csr.create":       `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","pin":"1234","key":"01","subject":{"commonName":"Alice","country":"DE"},"dnsNames":["a.example"],"emails":["a@example.com"]}`,
		"certs.import":     `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","pin":"1234","certificate":"` + cert + `","label":"l"}`,
		"objects.delete":   `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","pin":"1234","id":"01","what":"both"}`,
		"renewal.prepare":  `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","pin":"1234","cert":"01","newKey":true,"algorithm":"RSA-2048"}`,
		"renewal.complete": `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","pin":"1234","certificate":"` + cert + `","replaces":"01","removeOld":true}`,
		"pin.change":       `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","oldPin":"1234","newPin":"5678"}`,
		"pin.unlock":       `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","soPin":"12345678","newPin":"5678"}`,
		"sign":             `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","pin":"1234","cert":"01","data":"aGVsbG8=","digestAlgorithm":"SHA-512","format":"cms","padding":"pss","detached":false,"confirmFinalTry":true}`,
		"sign.batch":       `{"token":"b5c1a2d3e4f5061728394a5b6c7d8e9f","pin":"1234","cert":"01","items":[{"data":"aGVsbG8="},{"digest":"` + strings.Repeat("A", 43) + `="}]}`,
	}
	for i, name := range names {
		f.Add(uint8(i), []byte(valid[name]))
		f.Add(uint8(i), []byte(`{"token":7,"pin":null,"items":[{"data":"!"}],"subject":{"commonName":1}}`))
	}
	f.Fuzz(func(t *testing.T, index uint8, params []byte) {
		if !utf8.Valid(params) || !json.Valid(params) || kind(params) != '{' {
			return // the envelope lets only objects through as params
		}
		name := names[int(index)%len(names)]
		logged := errs.n.Load()
		result, err := callMethod(s, name, params)
		if errs.n.Load() != logged {
			t.Fatalf("%s %s: the server logged an error", name, params)
		}
		if slices.Contains(noTokenMethods, name) {
			if err != nil {
				t.Fatalf("%s %s: %v", name, params, err)
			}
			if _, err := encode(result); err != nil {
				t.Fatalf("%s %s: result cannot be encoded: %v", name, params, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("%s %s: a result without a token", name, params)
		}
		ae := errorFor(err)
		var p paramSet
		_ = json.Unmarshal(params, &p)
		switch reason(ae.Data.Reason) {
		case reasonInvalidParams:
			if ae.Data.Index != nil {
				index := *ae.Data.Index
				items, _ := arrayElements(p["items"], math.MaxInt)
				if name != "sign.batch" || index < 0 || index >= len(items) {
					t.Fatalf("%s %s: error names item %d", name, params, index)
				}
			}
		case reasonTokenNotFound:
			if p.auditTokenID() == "" {
				t.Fatalf("%s %s: TOKEN_NOT_FOUND without a well-formed token id", name, params)
			}
		default:
			t.Fatalf("%s %s: reason %s, want INVALID_PARAMS or TOKEN_NOT_FOUND", name, params, ae.Data.Reason)
		}
		other, changed := replacePINs(p)
		if !changed {
			return
		}
		_, err2 := callMethod(s, name, other)
		if ae2 := errorFor(err2); ae2.Message != ae.Message || ae2.Data.Reason != ae.Data.Reason {
			t.Fatalf("%s %s: the error depends on the PIN: %q, with other PINs %q", name, params, ae.Message, ae2.Message)
		}
	})
}

// callMethod runs the handler of method name on a fresh connection without
// Origin, and closes the connection (ending an events subscription).
func callMethod(s *Server, name string, params json.RawMessage) (any, error) {
	c := newConn(s, nil, "", "fuzz", place{})
	defer c.reqs.Wait()
	defer c.close(0, "")
	defer c.cancel()
	return s.methods[name](c.ctx, c, params)
}

// replacePINs returns params with every string PIN member replaced by a
// PIN that occurs nowhere else, and whether there was one to replace.
func replacePINs(p paramSet) (json.RawMessage, bool) {
	changed := false
	out := maps.Clone(p)
	for _, name := range pinMembers {
		if kind(p[name]) == '"' {
			out[name] = json.RawMessage(`"\u0000other PIN\u0000"`)
			changed = true
		}
	}
	b, _ := json.Marshal(out)
	return b, changed
}

// testCertificate is a self-signed EC certificate for seeds.
func testCertificate(tb testing.TB) *x509.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fuzz seed"},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

// FuzzCertificateInput reads a "certificate" param as certs.import and
// renewal.complete do (PEM or base64 DER). A certificate read comes back
// with the DER given (base64) or inside the PEM block, and reads again the
// same from its own DER in either form; anything else is INVALID_PARAMS
// from the params layer, so that the call is audited as refused.
func FuzzCertificateInput(f *testing.F) {
	cert := testCertificate(f)
	der := base64.StdEncoding.EncodeToString(cert.Raw)
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	for _, seed := range []string{
		der, certPEM, "\n  " + certPEM + "trailing\n",
		strings.Replace(certPEM, "CERTIFICATE", "CERTIFICATE REQUEST", 2),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: cert.Raw})),
		der[:len(der)-4], der + "AAAA", strings.TrimRight(der, "="), "-----BEGIN", "", "AA==",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		value, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := paramSet{"certificate": value}.certificate("certificate")
		if err != nil {
			var pe *paramsError
			if !errors.As(err, &pe) || errorFor(err).Data.Reason != string(reasonInvalidParams) || got != nil {
				t.Fatalf("%q: %v (%T), want a params error", s, err, err)
			}
			return
		}
		if block, _ := pem.Decode([]byte(s)); block != nil {
			if string(block.Bytes) != string(got.Raw) {
				t.Fatalf("%q: certificate DER differs from the PEM block", s)
			}
		} else if b, _ := base64.StdEncoding.DecodeString(s); string(b) != string(got.Raw) {
			t.Fatalf("%q: certificate DER differs from the base64", s)
		}
		for _, again := range []string{
			base64.StdEncoding.EncodeToString(got.Raw),
			string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: got.Raw})),
		} {
			value, _ := json.Marshal(again)
			c, err := paramSet{"certificate": value}.certificate("certificate")
			if err != nil || !c.Equal(got) {
				t.Fatalf("%q: does not read again as %q: %v", s, again, err)
			}
		}
	})
}
