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

// block times fn n times in a row and appends the times to d: each path is
// measured in blocks of calls, so that the processes it crosses are as
// awake as a page's calls keep them, and blocks of the paths alternate,
// so that the machine's ups and downs fall on all of them alike.
func block(d *[]time.Duration, n int, fn func()) {
	for range n {
		*d = append(*d, timed(fn))
	}
}

// TestSignPaths measures, for EC-P256 and RSA-2048 on one SoftHSM token,
// the agent's sign and sign.batch over the socket against their floors:
//   - sign against bare C_Login + find the key + C_SignInit + C_Sign +
//     C_Logout on the same token, and a round trip to a WebSocket server in a
//     process of its own that does nothing; what is left is the agent's own
//     work;
//   - sign.batch of 100, per signature, against bare C_SignInit + C_Sign with
//     the same key in one logged-in session.
//
// The agent runs as its own process, as installed, and the bare calls are
// made from this one. The round trip is also measured alternating call by
// call with the others, as this run did before: each call then wakes
// processes that slept through the others, which the blocks do not.
func TestSignPaths(t *testing.T) {
	skipUnlessLoad(t)
	env, ca := benchEnv(t)
	keys := []struct {
		alg  string
		id   byte
		n    int  // blocks of 20 calls
		mech uint // what the agent uses for "data" input on SoftHSM
	}{
		{"EC-P256", 1, 100, pkcs11.CKM_ECDSA},
		{"RSA-2048", 2, 25, pkcs11.CKM_SHA256_RSA_PKCS},
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
	emptyParams := encodeParams(t, map[string]any{})
	roundTrip := func() {
		if _, err := echo.call("echo", emptyParams); err != nil {
			t.Fatal(err)
		}
	}

	var report strings.Builder
	fmt.Fprintf(&report, "\n%-9s %-50s %10s %10s\n", "key", "path", "median", "p99")
	row := func(alg, name string, s stats) {
		fmt.Fprintf(&report, "%-9s %-50s %10s %10s\n", alg, name, ms(s.median), ms(s.p99))
	}
	for _, k := range keys {
		input := data
		if k.mech == pkcs11.CKM_ECDSA {
			input = digest[:]
		}
		cert := fmt.Sprintf("%02x", k.id)
		signParams := encodeParams(t, map[string]any{"token": tok, "pin": userPIN, "cert": cert, "data": b64})
		batchParams := encodeParams(t, map[string]any{"token": tok, "pin": userPIN, "cert": cert, "items": items})
		for range 20 { // warm-up
			call("sign", signParams)
		}
		certObject := bare.findObject(pkcs11.CKO_CERTIFICATE, k.id)
		bareSign := func() {
			bare.login()
			bare.sign(bare.findKey(k.id), k.mech, input)
			bare.logout()
		}

		var loginSign, sign, echoBlocks, reads, echoAlternating []time.Duration
		for range k.n {
			block(&loginSign, 20, bareSign)
			block(&sign, 20, func() { call("sign", signParams) })
			block(&echoBlocks, 20, roundTrip)
			block(&reads, 20, func() { bare.requiredReads(certObject) })
		}
		for range k.n * 5 { // call by call, as measured before
			bareSign()
			call("sign", signParams)
			echoAlternating = append(echoAlternating, timed(roundTrip))
		}

		// The batch floor: C_SignInit + C_Sign with the key itself in one
		// logged-in session, per signature in runs of 100 as a batch is.
		var signRuns, batch []time.Duration
		bare.login()
		key := bare.findKey(k.id)
		for range k.n {
			signRuns = append(signRuns, timed(func() {
				for range items {
					bare.sign(key, k.mech, input)
				}
			})/time.Duration(len(items)))
			batch = append(batch, timed(func() { call("sign.batch", batchParams) })/time.Duration(len(items)))
		}
		bare.logout()

		s := map[string]stats{}
		for name, d := range map[string][]time.Duration{
			"signRuns": signRuns, "loginSign": loginSign, "sign": sign, "batch": batch,
			"echo": echoBlocks, "echoAlternating": echoAlternating, "reads": reads,
		} {
			s[name] = summarize(d)
		}
		row(k.alg, "bare C_Login+find key+C_SignInit+C_Sign+C_Logout", s["loginSign"])
		row(k.alg, "sign over the socket", s["sign"])
		row(k.alg, "round trip, server doing nothing", s["echo"])
		row(k.alg, "round trip, alternating call by call", s["echoAlternating"])
		row(k.alg, "bare token info + certificate read", s["reads"])
		row(k.alg, "bare C_SignInit+C_Sign, logged in, runs of 100", s["signRuns"])
		row(k.alg, "sign.batch of 100, per signature", s["batch"])
		own := s["sign"].median - s["loginSign"].median - s["echo"].median
		fmt.Fprintf(&report, "%-9s the agent's own work per sign (median): %s (target < 0.300 ms), of which the two reads: %s\n",
			k.alg, ms(own), ms(s["reads"].median))
		fmt.Fprintf(&report, "%-9s sign.batch per signature / bare C_SignInit+C_Sign (median): %.2f×\n",
			k.alg, float64(s["batch"].median)/float64(s["signRuns"].median))
	}
	t.Log(report.String())
}
