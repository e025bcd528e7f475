package ws

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/token"
)

// marshal encodes v as the server would.
func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWireInfo(t *testing.T) {
	info := agent.Info{
		Name: "tokenagent", Version: "1.2.3", Protocol: 1,
		Modules: []agent.ModuleStatus{
			{Path: "/usr/lib/softhsm/libsofthsm2.so", Info: token.ModuleInfo{Manufacturer: "SoftHSM", Description: "Implementation of PKCS11", LibraryVersion: "2.6"}, State: token.ModuleReady},
			{Path: "/nope.so", State: token.ModuleFailed, Err: errors.New("loading module /nope.so: no such file")},
		},
		PCSC: agent.PCSCStatus{Err: "no PC/SC"},
	}
	want := `{"name":"tokenagent","version":"1.2.3","protocol":1,` +
		`"modules":[{"path":"/usr/lib/softhsm/libsofthsm2.so","manufacturer":"SoftHSM","description":"Implementation of PKCS11","libraryVersion":"2.6","state":"ready","error":null},` +
		`{"path":"/nope.so","manufacturer":"","description":"","libraryVersion":"","state":"failed","error":"loading module /nope.so: no such file"}],` +
		`"pcsc":{"available":false,"readers":[],"error":"no PC/SC"}}`
	if got := marshal(t, toInfo(info)); got != want {
		t.Errorf("agent.info:\n got %s\nwant %s", got, want)
	}
	info.Modules, info.PCSC = nil, agent.PCSCStatus{Available: true, Readers: []string{"Virtual PCD 00 00"}}
	want = `{"name":"tokenagent","version":"1.2.3","protocol":1,"modules":[],"pcsc":{"available":true,"readers":["Virtual PCD 00 00"],"error":null}}`
	if got := marshal(t, toInfo(info)); got != want {
		t.Errorf("agent.info:\n got %s\nwant %s", got, want)
	}
}

func TestWireToken(t *testing.T) {
	tok := agent.Token{
		ID: "b5c1", Label: "alice", Manufacturer: "SoftHSM project", Model: "SoftHSM v2", Serial: "9f1c",
		Module: "/usr/lib/softhsm/libsofthsm2.so", Slot: 1807829030,
		Reader: "Virtual PCD 00 00", ATR: "3b9513810180",
		PIN:   agent.PINState{Initialized: true, LoginRequired: true, SOFinalTry: true, MinLen: 4, MaxLen: 255},
		Media: &agent.Media{Profile: "cpp-blue", Description: "Legacy CPP media", Legacy: true, UpgradeTo: "bjca"},
	}
	want := `{"id":"b5c1","label":"alice","manufacturer":"SoftHSM project","model":"SoftHSM v2",` +
		`"serial":"9f1c","module":"/usr/lib/softhsm/libsofthsm2.so","slot":1807829030,` +
		`"reader":"Virtual PCD 00 00","atr":"3b9513810180",` +
		`"pin":{"initialized":true,"loginRequired":true,"locked":false,"countLow":false,` +
		`"finalTry":false,"soLocked":false,"soCountLow":false,"soFinalTry":true,` +
		`"protectedAuthPath":false,"minLen":4,"maxLen":255},` +
		`"media":{"profile":"cpp-blue","legacy":true,"upgradeTo":"bjca",` +
		`"description":"Legacy CPP media"},` +
		`"readOnly":false}`
	if got := marshal(t, toToken(tok)); got != want {
		t.Errorf("token:\n got %s\nwant %s", got, want)
	}

	tok.Reader, tok.ATR, tok.Media, tok.ReadOnly = "", "", nil, true
	var m map[string]any
	if err := json.Unmarshal([]byte(marshal(t, toToken(tok))), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"reader", "atr", "media"} {
		if v, ok := m[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
	if m["readOnly"] != true {
		t.Errorf("readOnly = %v", m["readOnly"])
	}

	tok.Media = &agent.Media{Profile: "bjca", Description: "New media"}
	if got, want := marshal(t, toToken(tok).Media), `{"profile":"bjca","legacy":false,"upgradeTo":null,"description":"New media"}`; got != want {
		t.Errorf("media without upgrade: %s, want %s", got, want)
	}
	if got, want := marshal(t, toTokens(nil)), `{"tokens":[]}`; got != want {
		t.Errorf("no tokens: %s, want %s", got, want)
	}
}

func TestWireLifetimeReport(t *testing.T) {
	notAfter := time.Date(2026, 12, 10, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	r := agent.LifetimeReport{
		Token: "b5c1", Status: "expiring", RenewRecommended: true, EarliestNotAfter: notAfter,
		Certificates: []agent.CertificateLifetime{{
			ID: "01a2", Subject: "CN=Alice", NotAfter: notAfter,
			Lifetime: agent.Lifetime{Status: agent.StatusExpiring, DaysLeft: 20, Remaining: agent.Period{Months: 0, Days: 20}},
		}},
	}
	want := `{"token":"b5c1","status":"expiring","renewRecommended":true,"earliestNotAfter":"2026-12-09T23:00:00Z",` +
		`"certificates":[{"id":"01a2","subject":"CN=Alice","notAfter":"2026-12-09T23:00:00Z",` +
		`"lifetime":{"status":"expiring","daysLeft":20,"remaining":{"years":0,"months":0,"days":20}}}]}`
	if got := marshal(t, toLifetimeReport(r)); got != want {
		t.Errorf("lifetime report:\n got %s\nwant %s", got, want)
	}
	empty := agent.LifetimeReport{Token: "b5c1", Status: agent.StatusEmpty, Certificates: []agent.CertificateLifetime{}}
	want = `{"token":"b5c1","status":"empty","renewRecommended":false,"earliestNotAfter":null,"certificates":[]}`
	if got := marshal(t, toLifetimeReport(empty)); got != want {
		t.Errorf("empty report:\n got %s\nwant %s", got, want)
	}
}

func TestWireTime(t *testing.T) {
	in := time.Date(2027, 5, 1, 2, 0, 0, 999_999_999, time.FixedZone("", 2*3600))
	if got := wireTime(in); got != "2027-05-01T00:00:00Z" {
		t.Errorf("wireTime = %s, want 2027-05-01T00:00:00Z", got)
	}
}
