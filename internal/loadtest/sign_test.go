package loadtest

import (
	"context"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/tokenagent/tokenagent/internal/softhsm"
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

// timed runs fn and returns how long it took.
func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

// encodeParams encodes params once, for calls timed over and over.
func encodeParams(t *testing.T, params map[string]any) json.RawMessage {
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// bareToken is the token in the test's own process, through PKCS#11 with
// nothing in between: what the agent's figures are compared with.
type bareToken struct {
	t    *testing.T
	p    *pkcs11.Ctx
	slot uint
	sh   pkcs11.SessionHandle
}

func openBare(t *testing.T, module string) *bareToken {
	p := pkcs11.New(module)
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	slots, err := p.GetSlotList(true)
	if err != nil || len(slots) == 0 {
		t.Fatalf("no slot: %v", err)
	}
	sh, err := p.OpenSession(slots[0], pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.CloseSession(sh)
		_ = p.Finalize()
		p.Destroy()
	})
	return &bareToken{t: t, p: p, slot: slots[0], sh: sh}
}

func (b *bareToken) must(err error) {
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *bareToken) login()  { b.must(b.p.Login(b.sh, pkcs11.CKU_USER, userPIN)) }
func (b *bareToken) logout() { b.must(b.p.Logout(b.sh)) }

// findKey finds the private key with CKA_ID id. SoftHSM drops private-object
// handles at logout, so a caller must find the key after each login.
func (b *bareToken) findKey(id byte) pkcs11.ObjectHandle {
	return b.findObject(pkcs11.CKO_PRIVATE_KEY, id)
}

// findObject finds the one object of class with CKA_ID id.
func (b *bareToken) findObject(class uint, id byte) pkcs11.ObjectHandle {
	b.must(b.p.FindObjectsInit(b.sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{id}),
	}))
	objs, _, err := b.p.FindObjects(b.sh, 1)
	if err != nil || len(objs) != 1 {
		b.t.Fatalf("finding object of class %d: %v", class, err)
	}
	b.must(b.p.FindObjectsFinal(b.sh))
	return objs[0]
}

// requiredReads makes the two reads a sign needs beyond login, find and
// sign: the token info (the contract reads the PIN flags before every login)
// and the certificate's value (the agent confirms the certificate it
// remembers has not been replaced).
func (b *bareToken) requiredReads(cert pkcs11.ObjectHandle) {
	_, err := b.p.GetTokenInfo(b.slot)
	b.must(err)
	_, err = b.p.GetAttributeValue(b.sh, cert, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	b.must(err)
}

func (b *bareToken) sign(key pkcs11.ObjectHandle, mech uint, input []byte) {
	b.must(b.p.SignInit(b.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, key))
	_, err := b.p.Sign(b.sh, input)
	b.must(err)
}

// TestSignPaths measures, for EC-P256 and RSA-2048 on one SoftHSM token:
// bare C_Sign in a logged-in session; bare C_Login + C_Sign + C_Logout; sign
// over the socket; and sign.batch of 100 over the socket, per signature.
// Beside them it measures the floor under sign − bare: a round trip to a
// WebSocket server doing nothing, and the reads of the token info and the
// certificate, which the agent needs and bare login+sign+logout does not.
// The agent runs as its own process, as installed, and the bare calls are
// made from this one. Each bare measurement alternates with the agent's, so
// that the machine's ups and downs (large on a shared VM) fall on both
// alike.
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

	agent := startAgent(t, env, 16)
	c, err := dialAgent(context.Background(), agent.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	call := func(method string, params any) {
		if _, err := c.call(method, params); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
	}
	res, err := c.call("tokens.list", map[string]any{})
	var list struct{ Tokens []struct{ ID string } }
	if err != nil || json.Unmarshal(res, &list) != nil || len(list.Tokens) != 1 {
		t.Fatalf("tokens.list: %s %v", res, err)
	}
	tok := list.Tokens[0].ID
	b64 := base64.StdEncoding.EncodeToString(data)
	items := make([]map[string]any, 100)
	for i := range items {
		items[i] = map[string]any{"data": b64}
	}
	bare := openBare(t, env.Module)
	echo := startEcho(t)

	var report strings.Builder
	fmt.Fprintf(&report, "\n%-9s %-42s %10s %10s\n", "key", "path", "median", "p99")
	row := func(alg, name string, s stats) {
		fmt.Fprintf(&report, "%-9s %-42s %10s %10s\n", alg, name, ms(s.median), ms(s.p99))
	}
	// What the socket and JSON-RPC cost alone, for reading the figures below.
	emptyParams := encodeParams(t, map[string]any{})
	info := make([]time.Duration, 2000)
	for i := range info {
		info[i] = timed(func() { call("agent.info", emptyParams) })
	}
	row("-", "agent.info over the socket", summarize(info))
	for _, k := range keys {
		input := data
		if k.mech == pkcs11.CKM_ECDSA {
			input = digest[:]
		}
		cert := fmt.Sprintf("%02x", k.id)
		signParams := encodeParams(t, map[string]any{"token": tok, "pin": userPIN, "cert": cert, "data": b64})
		batchParams := encodeParams(t, map[string]any{"token": tok, "pin": userPIN, "cert": cert, "items": items})
		for i := 0; i < 5; i++ { // warm-up
			call("sign", signParams)
		}

		// The floor under sign − bare: a round trip to a server doing
		// nothing, and the reads the agent must make, timed right after
		// such a round trip as the agent makes them.
		certObject := bare.findObject(pkcs11.CKO_CERTIFICATE, k.id)
		var loginSign, sign, roundTrip, reads []time.Duration
		for i := 0; i < k.n; i++ {
			loginSign = append(loginSign, timed(func() {
				bare.login()
				bare.sign(bare.findKey(k.id), k.mech, input)
				bare.logout()
			}))
			sign = append(sign, timed(func() { call("sign", signParams) }))
			roundTrip = append(roundTrip, timed(func() {
				if _, err := echo.call("echo", emptyParams); err != nil {
					t.Fatal(err)
				}
			}))
			reads = append(reads, timed(func() { bare.requiredReads(certObject) }))
		}

		// Bare C_Sign is timed one call at a time, and also as runs of 100
		// per signature, measured the way sign.batch is; and so with a
		// session copy of the key, which sign.batch uses on a software
		// token (token.Session.Batch), to show what the agent adds to it.
		var signOnly, signRuns, copyRuns, batch []time.Duration
		bare.login()
		key := bare.findKey(k.id)
		keyCopy, err := bare.p.CopyObject(bare.sh, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
		bare.must(err)
		for i := 0; i < k.n/20; i++ {
			signRuns = append(signRuns, timed(func() {
				for range items {
					signOnly = append(signOnly, timed(func() { bare.sign(key, k.mech, input) }))
				}
			})/time.Duration(len(items)))
			copyRuns = append(copyRuns, timed(func() {
				for range items {
					bare.sign(keyCopy, k.mech, input)
				}
			})/time.Duration(len(items)))
			batch = append(batch, timed(func() { call("sign.batch", batchParams) })/time.Duration(len(items)))
		}
		bare.must(bare.p.DestroyObject(bare.sh, keyCopy))
		bare.logout()

		s := map[string]stats{}
		for name, d := range map[string][]time.Duration{
			"signOnly": signOnly, "signRuns": signRuns, "copyRuns": copyRuns, "loginSign": loginSign, "sign": sign, "batch": batch,
			"roundTrip": roundTrip, "reads": reads,
		} {
			s[name] = summarize(d)
		}
		row(k.alg, "bare C_Sign (logged in), one call", s["signOnly"])
		row(k.alg, "bare C_Sign, per signature in runs of 100", s["signRuns"])
		row(k.alg, "bare C_Sign, session copy, runs of 100", s["copyRuns"])
		row(k.alg, "bare C_Login+C_Sign+C_Logout", s["loginSign"])
		row(k.alg, "sign over the socket", s["sign"])
		row(k.alg, "round trip, server doing nothing", s["roundTrip"])
		row(k.alg, "bare token info + cert read, after one", s["reads"])
		row(k.alg, "sign.batch of 100, per signature", s["batch"])
		over := s["sign"].median - s["loginSign"].median
		floor := s["roundTrip"].median + s["reads"].median
		fmt.Fprintf(&report, "%-9s sign − bare login+sign+logout (median): %s (target < 0.300 ms); floor: round trip + reads %s; the agent's own: %s\n",
			k.alg, ms(over), ms(floor), ms(over-floor))
		fmt.Fprintf(&report, "%-9s batch per signature / bare C_Sign (median): %.2f× one call, %.2f× runs of 100 (target ≤ 1.15×)\n",
			k.alg, float64(s["batch"].median)/float64(s["signOnly"].median), float64(s["batch"].median)/float64(s["signRuns"].median))
		fmt.Fprintf(&report, "%-9s batch per signature / bare C_Sign with a session copy, runs of 100 (median): %.2f×\n",
			k.alg, float64(s["batch"].median)/float64(s["copyRuns"].median))
	}
	t.Log(report.String())
}
