package loadtest

import (
	"context"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/miekg/pkcs11"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
	"github.com/tokenagent/tokenagent/ws"
)

const userPIN = "1234"

// skipUnlessLoad keeps the load runs out of make test: they measure, they
// do not check behaviour.
func skipUnlessLoad(t *testing.T) {
	if os.Getenv("TOKENAGENT_LOAD") == "" {
		t.Skip("load run: make bench sets TOKENAGENT_LOAD=1")
	}
}

// stats are the median and 99th percentile of some durations.
type stats struct{ median, p99 time.Duration }

func summarize(d []time.Duration) stats {
	slices.Sort(d)
	return stats{median: d[len(d)/2], p99: d[(len(d)*99)/100]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

// TestSignPaths measures, for EC-P256 and RSA-2048 on one SoftHSM token:
// bare C_Sign in a logged-in session; bare C_Login + C_Sign + C_Logout; sign
// over the socket; and sign.batch of 100 over the socket, per signature.
func TestSignPaths(t *testing.T) {
	skipUnlessLoad(t)
	env, ca := benchEnv(t)
	keys := []struct {
		alg  string
		id   byte
		n    int
		mech uint // what the agent uses for "data" input on SoftHSM
	}{
		{"EC-P256", 1, 2000, pkcs11.CKM_ECDSA},
		{"RSA-2048", 2, 500, pkcs11.CKM_SHA256_RSA_PKCS},
	}
	for _, k := range keys {
		if _, _, err := env.AddKeyAndCert("bench", userPIN, ca, softhsm.CertSpec{
			KeyAlgorithm: k.alg, ID: []byte{k.id}, Label: k.alg, Subject: pkix.Name{CommonName: k.alg},
		}); err != nil {
			t.Fatal(err)
		}
	}
	data := []byte("a document to sign")
	digest := sha256.Sum256(data)

	// Bare PKCS#11 first: the module can be initialised once per process
	// at a time, and the agent needs it after.
	bare := map[string][2]stats{}
	p := pkcs11.New(env.Module)
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := p.OpenSession(slots[0], pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		input := data
		if k.mech == pkcs11.CKM_ECDSA {
			input = digest[:]
		}
		if err := p.Login(sh, pkcs11.CKU_USER, userPIN); err != nil {
			t.Fatal(err)
		}
		// SoftHSM drops private-object handles at logout, so the
		// login+sign+logout loop finds the key after each login, as any
		// caller must.
		findKey := func() pkcs11.ObjectHandle {
			if err := p.FindObjectsInit(sh, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{k.id}),
			}); err != nil {
				t.Fatal(err)
			}
			objs, _, err := p.FindObjects(sh, 1)
			if err != nil || len(objs) != 1 {
				t.Fatalf("finding key: %v", err)
			}
			_ = p.FindObjectsFinal(sh)
			return objs[0]
		}
		signWith := func(key pkcs11.ObjectHandle) {
			if err := p.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(k.mech, nil)}, key); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Sign(sh, input); err != nil {
				t.Fatal(err)
			}
		}
		key := findKey()
		signOnce := func() { signWith(key) }
		signOnly := timeN(k.n, signOnce)
		if err := p.Logout(sh); err != nil {
			t.Fatal(err)
		}
		loginSign := timeN(k.n, func() {
			if err := p.Login(sh, pkcs11.CKU_USER, userPIN); err != nil {
				t.Fatal(err)
			}
			signWith(findKey())
			if err := p.Logout(sh); err != nil {
				t.Fatal(err)
			}
		})
		bare[k.alg] = [2]stats{signOnly, loginSign}
	}
	_ = p.CloseSession(sh)
	_ = p.Finalize()
	p.Destroy()

	// The agent on the same token, over a loopback socket.
	log := slog.New(slog.DiscardHandler)
	m := token.NewManager([]string{env.Module}, log)
	defer m.Close()
	srv := ws.New(ws.Config{AllowNoOrigin: true, Logger: log}, agent.New(m, agent.Options{RenewBeforeDays: 30}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	call := func(method string, params map[string]any) json.RawMessage {
		if err := conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params}); err != nil {
			t.Fatal(err)
		}
		var resp struct {
			Result json.RawMessage
			Error  json.RawMessage
		}
		if err := conn.ReadJSON(&resp); err != nil {
			t.Fatal(err)
		}
		if resp.Error != nil {
			t.Fatalf("%s: %s", method, resp.Error)
		}
		return resp.Result
	}
	var list struct{ Tokens []struct{ ID string } }
	if err := json.Unmarshal(call("tokens.list", map[string]any{}), &list); err != nil || len(list.Tokens) != 1 {
		t.Fatalf("tokens.list: %v %v", list, err)
	}
	tok := list.Tokens[0].ID
	b64 := base64.StdEncoding.EncodeToString(data)
	items := make([]map[string]any, 100)
	for i := range items {
		items[i] = map[string]any{"data": b64}
	}

	var report strings.Builder
	fmt.Fprintf(&report, "\n%-9s %-34s %12s %12s\n", "key", "path", "median", "p99")
	// What the socket and JSON-RPC cost alone, for reading the figures below.
	info := timeN(2000, func() { call("agent.info", map[string]any{}) })
	fmt.Fprintf(&report, "%-9s %-34s %12s %12s\n", "-", "agent.info over the socket", ms(info.median), ms(info.p99))
	for _, k := range keys {
		cert := fmt.Sprintf("%02x", k.id)
		params := map[string]any{"token": tok, "pin": userPIN, "cert": cert, "data": b64}
		sign := timeN(k.n, func() { call("sign", params) })
		batch := timeN(k.n/20, func() {
			call("sign.batch", map[string]any{"token": tok, "pin": userPIN, "cert": cert, "items": items})
		})
		batch = stats{batch.median / 100, batch.p99 / 100}
		signOnly, loginSign := bare[k.alg][0], bare[k.alg][1]
		for _, row := range []struct {
			name string
			s    stats
		}{
			{"bare C_Sign (logged in)", signOnly},
			{"bare C_Login+C_Sign+C_Logout", loginSign},
			{"sign over the socket", sign},
			{"sign.batch of 100, per signature", batch},
		} {
			fmt.Fprintf(&report, "%-9s %-34s %12s %12s\n", k.alg, row.name, ms(row.s.median), ms(row.s.p99))
		}
		fmt.Fprintf(&report, "%-9s sign − bare login+sign+logout (median): %s (target < 0.300 ms)\n", k.alg, ms(sign.median-loginSign.median))
		fmt.Fprintf(&report, "%-9s sign / bare login+sign+logout (median): %.2f×\n", k.alg, float64(sign.median)/float64(loginSign.median))
		fmt.Fprintf(&report, "%-9s batch per signature / bare C_Sign (median): %.2f× (target ≤ 1.15×)\n", k.alg, float64(batch.median)/float64(signOnly.median))
	}
	t.Log(report.String())
}

// timeN runs fn n times (after a few warm-up runs) and summarises the times.
func timeN(n int, fn func()) stats {
	for i := 0; i < 5; i++ {
		fn()
	}
	d := make([]time.Duration, n)
	for i := range d {
		start := time.Now()
		fn()
		d[i] = time.Since(start)
	}
	return summarize(d)
}
