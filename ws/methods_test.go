package ws

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
)

// now is the agent's clock in the SoftHSM tests, so that every lifetime
// has one right answer.
var now = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

const (
	soPIN   = "12345678"
	userPIN = "4711"
)

// hsmFixture is a SoftHSM environment with three tokens, served by a real
// agent and server:
//   - alice: an RSA-2048 certificate valid for a year (id 01a2) and an
//     EC-P256 one expiring in 10 days (id 02);
//   - bob: an expired certificate (id 03) and a not yet valid one (id 04);
//     bob matches the media profile "cpp-blue";
//   - empty: no certificate.
type hsmFixture struct {
	env   *softhsm.Env
	ca    *softhsm.CA
	certs map[string]*x509.Certificate // by object id
	ts    *testServer
}

func newHSMFixture(t *testing.T) *hsmFixture {
	t.Helper()
	env := softhsm.New(t)
	ca, err := softhsm.NewCA("ws test CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"alice", "bob", "empty"} {
		if err := env.InitToken(label, soPIN, userPIN); err != nil {
			t.Fatal(err)
		}
	}
	f := &hsmFixture{env: env, ca: ca, certs: map[string]*x509.Certificate{}}
	for _, c := range []struct {
		token string
		spec  softhsm.CertSpec
	}{
		{"alice", softhsm.CertSpec{KeyAlgorithm: "RSA-2048", ID: []byte{0x01, 0xa2}, Label: "alice-sign",
			Subject:   pkix.Name{CommonName: "Alice", Organization: []string{"Example <&> Corp"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)}},
		{"alice", softhsm.CertSpec{KeyAlgorithm: "EC-P256", ID: []byte{0x02}, Label: "alice-auth",
			Subject:   pkix.Name{CommonName: "Alice Auth"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, 10)}},
		{"bob", softhsm.CertSpec{KeyAlgorithm: "EC-P256", ID: []byte{0x03}, Label: "bob-old",
			Subject:   pkix.Name{CommonName: "Bob <script>alert(1)</script>"},
			NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -1)}},
		{"bob", softhsm.CertSpec{KeyAlgorithm: "RSA-2048", ID: []byte{0x04}, Label: "bob-next",
			Subject:   pkix.Name{CommonName: "Bob"},
			NotBefore: now.AddDate(0, 0, 5), NotAfter: now.AddDate(1, 0, 5)}},
	} {
		cert, _, err := env.AddKeyAndCert(c.token, userPIN, ca, c.spec)
		if err != nil {
			t.Fatal(err)
		}
		f.certs[hex.EncodeToString(c.spec.ID)] = cert
	}

	// Open the module only now: SoftHSM reads its tokens at C_Initialize.
	log := slog.New(slog.DiscardHandler)
	missing := filepath.Join(t.TempDir(), "libmissing-pkcs11.so")
	hw := token.NewManager([]string{env.Module, missing}, log)
	t.Cleanup(func() { _ = hw.Close() })
	a := agent.New(hw, agent.Options{
		Version:         "1.2.3",
		RenewBeforeDays: 30,
		Media: []agent.MediaProfile{{
			Name: "cpp-blue", Description: "Legacy CPP media", Legacy: true, UpgradeTo: "bjca",
			CarryOverMonths: 12, MatchLabel: regexp.MustCompile("^bob$"),
		}},
		Now: func() time.Time { return now },
	})
	f.ts = startServer(t, Config{AllowNoOrigin: true}, a)
	return f
}

// tokenIDs lists the tokens and returns their ids by label.
func tokenIDs(t *testing.T, c *client) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, tok := range c.result("tokens.list", map[string]any{})["tokens"].([]any) {
		m := tok.(map[string]any)
		ids[m["label"].(string)] = m["id"].(string)
	}
	return ids
}

func TestMethodsOverSoftHSM(t *testing.T) {
	f := newHSMFixture(t)
	c := f.ts.dial(t, nil)

	t.Run("agent.info", func(t *testing.T) {
		c.t = t
		info := keys(t, "agent.info", c.result("agent.info", nil), "name", "version", "protocol", "modules", "pcsc")
		if info["name"] != "tokenagent" || info["version"] != "1.2.3" || info["protocol"] != 1.0 {
			t.Errorf("agent.info: %v", info)
		}
		modules := info["modules"].([]any)
		if len(modules) != 2 {
			t.Fatalf("modules: %v", modules)
		}
		loaded := keys(t, "module", modules[0], "path", "manufacturer", "description", "libraryVersion", "state", "error")
		if loaded["path"] != f.env.Module || loaded["manufacturer"] != "SoftHSM" || loaded["state"] != "ready" || loaded["error"] != nil {
			t.Errorf("loaded module: %v", loaded)
		}
		if v, _ := loaded["libraryVersion"].(string); !regexp.MustCompile(`^\d+\.\d+$`).MatchString(v) {
			t.Errorf("libraryVersion %q", loaded["libraryVersion"])
		}
		failed := keys(t, "module", modules[1], "path", "manufacturer", "description", "libraryVersion", "state", "error")
		if msg, _ := failed["error"].(string); msg == "" || failed["state"] != "failed" || !strings.HasSuffix(failed["path"].(string), "libmissing-pkcs11.so") {
			t.Errorf("failed module: %v", failed)
		}
		pcsc := keys(t, "pcsc", info["pcsc"], "available", "readers", "error")
		if readers, ok := pcsc["readers"].([]any); !ok || len(readers) != 0 || pcsc["available"] != false {
			t.Errorf("pcsc: %v", pcsc)
		}
	})

	t.Run("tokens.list", func(t *testing.T) {
		c.t = t
		tokens := keys(t, "result", c.result("tokens.list", map[string]any{}), "tokens")["tokens"].([]any)
		if len(tokens) != 3 {
			t.Fatalf("%d tokens, want 3: %v", len(tokens), tokens)
		}
		for _, tok := range tokens {
			m := keys(t, "token", tok, "id", "label", "manufacturer", "model", "serial", "module", "slot",
				"reader", "atr", "pin", "media", "readOnly")
			label := m["label"].(string)
			if m["manufacturer"] != "SoftHSM project" || m["model"] != "SoftHSM v2" || m["module"] != f.env.Module {
				t.Errorf("%s: %v", label, m)
			}
			if want := token.TokenID(f.env.Module, "SoftHSM project", "SoftHSM v2", m["serial"].(string)); m["id"] != want {
				t.Errorf("%s: id %v, want %s", label, m["id"], want)
			}
			if _, ok := m["slot"].(float64); !ok {
				t.Errorf("%s: slot %v", label, m["slot"])
			}
			if m["reader"] != nil || m["atr"] != nil || m["readOnly"] != false {
				t.Errorf("%s: reader %v atr %v readOnly %v, want null null false", label, m["reader"], m["atr"], m["readOnly"])
			}
			pin := keys(t, "pin", m["pin"], "initialized", "loginRequired", "locked", "countLow", "finalTry",
				"soLocked", "soCountLow", "soFinalTry", "protectedAuthPath", "minLen", "maxLen")
			if pin["initialized"] != true || pin["loginRequired"] != true || pin["locked"] != false || pin["protectedAuthPath"] != false || pin["minLen"].(float64) < 1 {
				t.Errorf("%s: pin %v", label, pin)
			}
			switch label {
			case "bob":
				media := keys(t, "media", m["media"], "profile", "legacy", "upgradeTo", "description")
				if media["profile"] != "cpp-blue" || media["legacy"] != true || media["upgradeTo"] != "bjca" || media["description"] != "Legacy CPP media" {
					t.Errorf("bob: media %v", media)
				}
			case "alice", "empty":
				if m["media"] != nil {
					t.Errorf("%s: media %v, want null", label, m["media"])
				}
			default:
				t.Errorf("unexpected token %q", label)
			}
		}
	})

	ids := tokenIDs(t, c)

	t.Run("certs.list", func(t *testing.T) {
		c.t = t
		want := map[string]map[string][]string{
			"alice": {"01a2": {"RSA", "2048", "", "valid", "365", "1 0 0"}, "02": {"EC", "256", "P-256", "expiring", "10", "0 0 10"}},
			"bob":   {"03": {"EC", "256", "P-256", "expired", "-1", "0 0 0"}, "04": {"RSA", "2048", "", "not_yet_valid", "370", "1 0 5"}},
			"empty": {},
		}
		for label, wantCerts := range want {
			certs := keys(t, "result", c.result("certs.list", map[string]any{"token": ids[label]}), "certificates")["certificates"].([]any)
			if len(certs) != len(wantCerts) {
				t.Fatalf("%s: %d certificates, want %d", label, len(certs), len(wantCerts))
			}
			for _, got := range certs {
				m := keys(t, "certificate", got, "id", "label", "subject", "issuer", "serialNumber", "notBefore", "notAfter",
					"sha256", "keyAlgorithm", "keySize", "curve", "keyUsage", "der", "lifetime")
				id, _ := m["id"].(string)
				w, ok := wantCerts[id]
				if !ok {
					t.Errorf("%s: unexpected certificate %q", label, id)
					continue
				}
				checkCert(t, m, f.certs[id], w)
			}
		}
	})

	t.Run("lifetime.check", func(t *testing.T) {
		c.t = t
		tests := []struct {
			token, at string
			status    string
			renew     bool
			earliest  any               // string or nil
			certs     map[string]string // id → "status daysLeft"
		}{
			{"alice", "", "expiring", true, "2026-06-25T12:00:00Z", map[string]string{"01a2": "valid 365", "02": "expiring 10"}},
			{"bob", "", "expired", true, "2026-06-14T12:00:00Z", map[string]string{"03": "expired -1", "04": "not_yet_valid 370"}},
			{"empty", "", "empty", false, nil, map[string]string{}},
			// at replaces now; offsets are accepted.
			{"alice", "2026-06-15T14:00:00+02:00", "expiring", true, "2026-06-25T12:00:00Z", map[string]string{"01a2": "valid 365", "02": "expiring 10"}},
			{"alice", "2027-05-16T12:00:00Z", "expired", true, "2026-06-25T12:00:00Z", map[string]string{"01a2": "expiring 30", "02": "expired -325"}},
			{"alice", "2026-04-01T00:00:00Z", "not_yet_valid", false, "2026-06-25T12:00:00Z", map[string]string{"01a2": "not_yet_valid 440", "02": "not_yet_valid 85"}},
			{"bob", "2026-06-20T12:00:01Z", "expired", true, "2026-06-14T12:00:00Z", map[string]string{"03": "expired -7", "04": "valid 364"}},
			{"empty", "2030-01-01T00:00:00Z", "empty", false, nil, map[string]string{}},
		}
		for _, tt := range tests {
			params := map[string]any{"token": ids[tt.token]}
			if tt.at != "" {
				params["at"] = tt.at
			}
			what := fmt.Sprintf("lifetime.check %s at %q", tt.token, tt.at)
			r := keys(t, what, c.result("lifetime.check", params), "token", "status", "renewRecommended", "earliestNotAfter", "certificates")
			if r["token"] != ids[tt.token] || r["status"] != tt.status || r["renewRecommended"] != tt.renew || r["earliestNotAfter"] != tt.earliest {
				t.Errorf("%s: %v", what, r)
			}
			certs := r["certificates"].([]any)
			if len(certs) != len(tt.certs) {
				t.Fatalf("%s: %d certificates, want %d", what, len(certs), len(tt.certs))
			}
			for _, cert := range certs {
				m := keys(t, what, cert, "id", "subject", "notAfter", "lifetime")
				id := m["id"].(string)
				x := f.certs[id]
				if m["subject"] != x.Subject.String() || m["notAfter"] != x.NotAfter.UTC().Format(time.RFC3339) {
					t.Errorf("%s: certificate %v", what, m)
				}
				lt := keys(t, "lifetime", m["lifetime"], "status", "daysLeft", "remaining")
				if got := fmt.Sprintf("%v %v", lt["status"], lt["daysLeft"]); got != tt.certs[id] {
					t.Errorf("%s: %s lifetime %s, want %s", what, id, got, tt.certs[id])
				}
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		c.t = t
		wantError(t, c.call("certs.list", map[string]any{"token": "00000000000000000000000000000000"}), 1001, "TOKEN_NOT_FOUND")
		wantError(t, c.call("lifetime.check", map[string]any{"token": "nope"}), 1001, "TOKEN_NOT_FOUND")
		wantError(t, c.call("lifetime.check", map[string]any{"token": ids["alice"], "at": "2026-13-01T00:00:00Z"}), -32602, "INVALID_PARAMS")
		wantError(t, c.call("certs.list", map[string]any{"token": []string{ids["alice"]}}), -32602, "INVALID_PARAMS")
		if n := len(c.result("certs.list", map[string]any{"token": ids["alice"]})["certificates"].([]any)); n != 2 {
			t.Errorf("after the errors: %d certificates, want 2", n)
		}
	})

	t.Run("concurrent calls", func(t *testing.T) {
		c.t = t
		// Mixed calls sent back to back; each response must carry the id of
		// the request it answers.
		want := map[string]string{}
		for i := range 40 {
			id := fmt.Sprint("req-", i)
			var frame string
			switch i % 4 {
			case 0:
				frame, want[id] = `{"jsonrpc":"2.0","id":"`+id+`","method":"tokens.list"}`, "tokens"
			case 1:
				frame, want[id] = `{"jsonrpc":"2.0","id":"`+id+`","method":"certs.list","params":{"token":"`+ids["alice"]+`"}}`, "alice"
			case 2:
				frame, want[id] = `{"jsonrpc":"2.0","id":"`+id+`","method":"certs.list","params":{"token":"`+ids["bob"]+`"}}`, "bob"
			case 3:
				frame, want[id] = `{"jsonrpc":"2.0","id":"`+id+`","method":"lifetime.check","params":{"token":"`+ids["empty"]+`"}}`, "empty"
			}
			c.sendRaw(frame)
		}
		for range 40 {
			r := c.read()
			var id string
			if err := jsonUnmarshal(r.ID, &id); err != nil || r.Error != nil {
				t.Fatalf("response %s: %v %+v", r.ID, err, r.Error)
			}
			body := string(r.Result)
			var ok bool
			switch want[id] {
			case "tokens":
				ok = strings.Contains(body, `"tokens":[`)
			case "alice":
				ok = strings.Contains(body, `"id":"01a2"`) && strings.Contains(body, `"id":"02"`)
			case "bob":
				ok = strings.Contains(body, `"id":"03"`) && strings.Contains(body, `"id":"04"`)
			case "empty":
				ok = strings.Contains(body, `"status":"empty"`)
			}
			if !ok {
				t.Errorf("id %s (%s) got %s", id, want[id], body)
			}
			delete(want, id)
		}
		if len(want) != 0 {
			t.Errorf("unanswered: %v", want)
		}
	})
}

// checkCert compares a certs.list entry with the certificate issued for it;
// want is keyAlgorithm, keySize, curve ("" for null), status, daysLeft and
// "years months days" remaining.
func checkCert(t *testing.T, got map[string]any, x *x509.Certificate, want []string) {
	t.Helper()
	id := got["id"]
	sum := sha256.Sum256(x.Raw)
	fields := map[string]any{
		"subject":      x.Subject.String(),
		"issuer":       "CN=ws test CA",
		"serialNumber": hex.EncodeToString(x.SerialNumber.Bytes()),
		"notBefore":    x.NotBefore.UTC().Format(time.RFC3339),
		"notAfter":     x.NotAfter.UTC().Format(time.RFC3339),
		"sha256":       hex.EncodeToString(sum[:]),
		"der":          base64.StdEncoding.EncodeToString(x.Raw),
		"keyAlgorithm": want[0],
		"keySize":      want[1],
	}
	for k, v := range fields {
		if g := fmt.Sprint(got[k]); g != v {
			t.Errorf("%v: %s = %s, want %s", id, k, g, v)
		}
	}
	if label, _ := got["label"].(string); label == "" {
		t.Errorf("%v: no label", id)
	}
	if want[2] == "" && got["curve"] != nil || want[2] != "" && got["curve"] != want[2] {
		t.Errorf("%v: curve %v, want %q", id, got["curve"], want[2])
	}
	if ku := fmt.Sprint(got["keyUsage"]); ku != "[digitalSignature nonRepudiation]" {
		t.Errorf("%v: keyUsage %s", id, ku)
	}
	if !strings.Contains(got["notAfter"].(string), "T") || strings.Contains(got["notAfter"].(string), ".") {
		t.Errorf("%v: notAfter %v not RFC 3339 without fractions", id, got["notAfter"])
	}
	lt := keys(t, "lifetime", got["lifetime"], "status", "daysLeft", "remaining")
	rem := keys(t, "remaining", lt["remaining"], "years", "months", "days")
	if g := fmt.Sprintf("%v %v %v %v %v", lt["status"], lt["daysLeft"], rem["years"], rem["months"], rem["days"]); g != strings.Join(want[3:], " ") {
		t.Errorf("%v: lifetime %s, want %s", id, g, strings.Join(want[3:], " "))
	}
}
