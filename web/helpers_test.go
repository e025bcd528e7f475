package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"hash"
	"math/big"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/tokenagent/tokenagent/internal/browsertest"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/ws"
)

// clientReasons are the reasons the client gives itself (PROTOCOL.md
// section 1), beside the agent's.
var clientReasons = []string{"AGENT_UNREACHABLE", "TIMEOUT", "CLOSED", "LOCAL_NETWORK_DENIED"}

// agentReasons reads the protocol's reasons from ws/errors.go, where the
// server defines them: the constants of type reason.
func agentReasons(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "ws", "errors.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "reason" {
				continue
			}
			for _, v := range vs.Values {
				s, err := strconv.Unquote(v.(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				reasons = append(reasons, s)
			}
		}
	}
	if len(reasons) < 20 {
		t.Fatalf("read %d reasons from ws/errors.go: %q", len(reasons), reasons)
	}
	return reasons
}

// declaredUnion returns the string literals of the union type name in
// tokenagent.d.ts (the names of other types in it are left out).
func declaredUnion(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile("tokenagent.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\nexport type "+name+" =")
	if !ok {
		t.Fatalf("tokenagent.d.ts declares no type %s", name)
	}
	decl, _, _ := strings.Cut(rest, ";")
	var out []string
	for _, m := range regexp.MustCompile(`"([A-Z_]+)"`).FindAllStringSubmatch(decl, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDeclaredReasonsAreTheAgents checks that the declarations' reasons are
// exactly those of ws/errors.go and the client's own.
func TestDeclaredReasonsAreTheAgents(t *testing.T) {
	if got, want := slices.Sorted(slices.Values(declaredUnion(t, "ProtocolReason"))), slices.Sorted(slices.Values(agentReasons(t))); !slices.Equal(got, want) {
		t.Errorf("tokenagent.d.ts's ProtocolReason is %q\nws/errors.go has %q", got, want)
	}
	if got, want := slices.Sorted(slices.Values(declaredUnion(t, "Reason"))), slices.Sorted(slices.Values(clientReasons)); !slices.Equal(got, want) {
		t.Errorf("tokenagent.d.ts's Reason adds %q to the protocol's, want the client's %q", got, want)
	}
}

// helperCert is a certificate of the helpers' token, by what pickCertificates reads.
type helperCert struct {
	id       string
	cn       string
	ca       *softhsm.CA
	usage    x509.KeyUsage
	from, to time.Duration // validity, from now
}

const signing = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment

// TestClientHelpersInBrowser runs the client's helpers for portals in
// headless Chromium against a real agent over a SoftHSM token: digestOf
// against Go's SHA-2 for every way it takes its input, pickCertificates
// and commonName over certs.list's certificates, errorMessage for every
// reason of ws/errors.go and the client in English, Russian and Chinese,
// with what the data adds and for real errors of the agent, and
// callUnchecked.
func TestClientHelpersInBrowser(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("helpers", soPIN, userPIN); err != nil {
		t.Fatal(err)
	}
	ours, err := softhsm.NewCA("Helpers CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := softhsm.NewCA("Other CA")
	if err != nil {
		t.Fatal(err)
	}
	// 01 has a key, for signing; the others are certificates alone.
	if _, _, err := env.AddKeyAndCert("helpers", userPIN, ours, softhsm.CertSpec{
		ID: []byte{0x01}, Label: "sign", Subject: pkix.Name{CommonName: "Alice Signer", Organization: []string{"Example"}},
	}); err != nil {
		t.Fatal(err)
	}
	year := 365 * 24 * time.Hour
	certs := []helperCert{
		{id: "02", cn: `Doe, Jane+"Q"`, ca: other, usage: x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment, from: -time.Hour, to: year},
		{id: "03", cn: "Old Signer", ca: ours, usage: signing, from: -2 * year, to: -year},
		{id: "04", cn: "Soon Signer", ca: ours, usage: x509.KeyUsageDigitalSignature, from: -time.Hour, to: 12 * time.Hour},
		{id: "05", cn: "Future Signer", ca: ours, usage: signing, from: 24 * time.Hour, to: year},
	}
	now := time.Now()
	for _, c := range certs {
		der := issue(t, c, now)
		id, _ := strconv.ParseUint(c.id, 16, 8)
		if err := env.ImportCertificate("helpers", userPIN, []byte{byte(id)}, c.cn, der); err != nil {
			t.Fatal(err)
		}
	}

	data := make([]byte, 3<<20+5)
	_, _ = mathrand.NewChaCha8([32]byte{19}).Read(data)
	pageLn := listen(t, "0")
	pageOrigin := "http://" + pageLn.Addr().String()
	ag := startAgent(t, ws.Config{AllowedOrigins: []string{pageOrigin}}, env.Module)
	fake := startFake(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, page, ag.port)
	})
	mux.Handle("GET /clienttest.js", http.FileServer(http.Dir("testdata")))
	mux.HandleFunc("GET /blob", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > len(data) {
			http.Error(w, "bad n", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(data[:n])
	})
	pages := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = pages.Serve(pageLn) }()
	t.Cleanup(func() { _ = pages.Close() })
	dead := listen(t, "0")
	deadURL := "ws://" + dead.Addr().String() + "/ws"
	dead.Close() // nothing listens there now

	lengths := []int{0, 1, 55, 56, 63, 64, 65, 111, 112, 119, 127, 128, 129, 1000, len(data)}
	rfc3339 := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339) }
	filters := map[string]struct {
		filter map[string]any
		want   []string
	}{
		"none":          {map[string]any{}, []string{"01", "02", "03", "04", "05"}},
		"signing":       {map[string]any{"keyUsage": "digitalSignature"}, []string{"01", "03", "04", "05"}},
		"qualified":     {map[string]any{"keyUsage": []string{"digitalSignature", "nonRepudiation"}}, []string{"01", "03", "05"}},
		"encryption":    {map[string]any{"keyUsage": "keyEncipherment"}, []string{"02"}},
		"issuer CN":     {map[string]any{"issuer": "Other CA"}, []string{"02"}},
		"issuer DN":     {map[string]any{"issuer": "CN=Helpers CA"}, []string{"01", "03", "04", "05"}},
		"issuer RegExp": {map[string]any{"issuerRegExp": "^CN=Other"}, []string{"02"}},
		"any issuer":    {map[string]any{"issuer": []string{"Nobody CA"}, "issuerRegExp": "Helpers"}, []string{"01", "03", "04", "05"}},
		"no issuer":     {map[string]any{"issuer": []string{}}, []string{}},
		"valid now":     {map[string]any{"validAt": rfc3339(0)}, []string{"01", "02", "04"}},
		"valid before":  {map[string]any{"validAt": rfc3339(-year - year/2)}, []string{"03"}},
		"expiring":      {map[string]any{"status": "expiring"}, []string{"04"}},
		"usable":        {map[string]any{"status": []string{"valid", "expiring"}}, []string{"01", "02", "04"}},
		"not yet valid": {map[string]any{"status": "not_yet_valid"}, []string{"05"}},
		"expired":       {map[string]any{"status": "expired"}, []string{"03"}},
		"all criteria": {map[string]any{"keyUsage": "nonRepudiation", "issuer": "Helpers CA", "validAt": rfc3339(0),
			"status": []string{"valid", "expiring"}}, []string{"01"}},
	}
	cfgFilters := map[string]any{}
	for name, f := range filters {
		cfgFilters[name] = f.filter
	}
	reasons := append(agentReasons(t), clientReasons...)
	cases := newMessageCases(reasons)
	cfg := map[string]any{
		"tests":   []string{"digests", "pick", "unchecked", "messages"},
		"agent":   "ws://127.0.0.1:" + ag.port + "/ws",
		"silent":  fake.url("/silent"),
		"dead":    deadURL,
		"blob":    pageOrigin + "/blob",
		"lengths": lengths,
		"filters": cfgFilters,
		"token":   "helpers",
		"pin":     userPIN,
		"cert":    "01",
		"cases":   cases.wire(),
	}
	results := runPage(t, browsertest.New(t), pageOrigin+"/page", cfg)

	t.Run("digestOf", func(t *testing.T) {
		var got []struct {
			N      int     `json:"n"`
			Alg    string  `json:"alg"`
			How    string  `json:"how"`
			Digest string  `json:"digest"`
			MS     float64 `json:"ms"`
		}
		unmarshal(t, results["digests"], &got)
		if want := len(lengths)*3*5 - 3; len(got) != want {
			t.Fatalf("%d digests, want %d", len(got), want)
		}
		hashes := map[string]func() hash.Hash{"SHA-256": sha256.New, "SHA-384": sha512.New384, "SHA-512": sha512.New}
		for _, d := range got {
			in := data[:d.N]
			if d.How == "view" {
				in = data[1:d.N]
			}
			h := hashes[d.Alg]()
			h.Write(in)
			if want := base64.StdEncoding.EncodeToString(h.Sum(nil)); d.Digest != want {
				t.Errorf("digestOf(%d bytes, %s) as %s = %s, Go says %s", len(in), d.Alg, d.How, d.Digest, want)
			}
			if d.N == len(data) {
				t.Logf("%s of %d bytes as %s: %.0f ms (%.0f MB/s)", d.Alg, d.N, d.How, d.MS, float64(d.N)/1e3/max(d.MS, 1))
			}
		}
	})

	t.Run("pickCertificates", func(t *testing.T) {
		var got struct {
			Picked map[string][]string `json:"picked"`
			Names  map[string]*string  `json:"names"`
		}
		unmarshal(t, results["pick"], &got)
		for name, f := range filters {
			if !slices.Equal(got.Picked[name], f.want) {
				t.Errorf("pickCertificates(%v) = %q, want %q", f.filter, got.Picked[name], f.want)
			}
		}
		names := map[string]string{"01": "Alice Signer"}
		for _, c := range certs {
			names[c.id] = c.cn
		}
		for id, want := range names {
			if got := got.Names[id]; got == nil || *got != want {
				t.Errorf("commonName of certificate %s's subject = %v, want %q", id, got, want)
			}
		}
	})

	t.Run("errorMessage", func(t *testing.T) {
		var got struct {
			Table map[string]map[string]string `json:"table"`
			Said  []string                     `json:"said"`
			Real  []realError                  `json:"real"`
		}
		unmarshal(t, results["messages"], &got)
		checkTable(t, got.Table, append(reasons, declaredUnion(t, "MessageVariant")...))
		if len(got.Said) != len(cases) {
			t.Fatalf("%d sentences for %d cases", len(got.Said), len(cases))
		}
		for i, c := range cases {
			if want := c.expect(got.Table); got.Said[i] != want {
				t.Errorf("%s in %s: errorMessage says\n\t%q\nwant\n\t%q", c.name, c.lang, got.Said[i], want)
			}
		}
		checkRealErrors(t, got.Real, got.Table)
	})
}

// issue makes the certificate c, valid from now+c.from to now+c.to.
func issue(t *testing.T, c helperCert, now time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: c.cn, Organization: []string{"Example"}},
		NotBefore:    now.Add(c.from),
		NotAfter:     now.Add(c.to),
		KeyUsage:     c.usage,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca.Cert, key.Public(), c.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func unmarshal(t *testing.T, r jsResult, v any) {
	t.Helper()
	if !r.OK {
		t.Fatalf("the page's %s test failed", r.Name)
	}
	if err := json.Unmarshal(r.Value, v); err != nil {
		t.Fatalf("%s: %v: %s", r.Name, err, r.Value)
	}
}

// languages are the languages of the client's message table.
var languages = []string{"en", "ru", "zh"}

// allowedLatin are the words the Russian and Chinese sentences may spell
// in Latin letters: the product's name and the names of the PINs.
var allowedLatin = map[string]bool{"tokenagent": true, "PIN": true, "SO": true, "PUK": true}

var (
	latinWord   = regexp.MustCompile(`[A-Za-z]{2,}`)
	placeholder = regexp.MustCompile(`\{\w+\}`)
)

// checkTable checks the client's message table: the same keys in every
// language, exactly keys, and each sentence in its language, with the
// same placeholders as the English one.
func checkTable(t *testing.T, table map[string]map[string]string, keys []string) {
	t.Helper()
	want := slices.Sorted(slices.Values(keys))
	for _, lang := range languages {
		var got []string
		for k := range table[lang] {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("messages.%s has the keys %q\nwant the reasons and tokenagent.d.ts's MessageVariant: %q", lang, got, want)
		}
	}
	script := map[string]*unicode.RangeTable{"ru": unicode.Cyrillic, "zh": unicode.Han}
	for _, key := range want {
		en := table["en"][key]
		for _, lang := range languages {
			s := table[lang][key]
			switch {
			case strings.TrimSpace(s) == "":
				t.Errorf("messages.%s.%s is empty", lang, key)
				continue
			case lang != "en" && s == en:
				t.Errorf("messages.%s.%s is the English sentence", lang, key)
			case lang != "en" && !strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(script[lang], r) }):
				t.Errorf("messages.%s.%s is not in its language: %q", lang, key, s)
			}
			if lang != "en" {
				for _, w := range latinWord.FindAllString(placeholder.ReplaceAllString(s, ""), -1) {
					if !allowedLatin[w] {
						t.Errorf("messages.%s.%s has the English %q: %q", lang, key, w, s)
					}
				}
			}
			if got, want := slices.Sorted(slices.Values(placeholder.FindAllString(s, -1))), slices.Sorted(slices.Values(placeholder.FindAllString(en, -1))); !slices.Equal(got, want) {
				t.Errorf("messages.%s.%s has the placeholders %q, English %q", lang, key, got, want)
			}
		}
	}
	// SoftHSM reports count-low after one wrong PIN: the sentence must not
	// say there were several.
	for lang, word := range map[string]string{"en": "several", "ru": "нескольк", "zh": "多次"} {
		for _, key := range []string{"COUNT_LOW", "SO_COUNT_LOW"} {
			if strings.Contains(strings.ToLower(table[lang][key]), word) {
				t.Errorf("messages.%s.%s says %q: %q", lang, key, word, table[lang][key])
			}
		}
	}
}

// messageCase is an error given to errorMessage in one language, and the
// sentences of the table it must say, joined, with their {names} filled.
type messageCase struct {
	name   string
	reason string
	data   map[string]any
	method string
	bare   bool   // a plain object {reason, data, method}, not an AgentError
	lang   string // as given to errorMessage
	table  string // the table's language it must speak
	keys   []string
	vars   map[string]string // {name} → its value, in table's language
}

type messageCases []messageCase

func (cs messageCases) wire() []map[string]any {
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		out[i] = map[string]any{"reason": c.reason, "data": c.data, "method": c.method, "bare": c.bare, "lang": c.lang}
	}
	return out
}

// expect is what errorMessage must say for c, from the table.
func (c messageCase) expect(table map[string]map[string]string) string {
	parts := make([]string, len(c.keys))
	for i, k := range c.keys {
		parts[i] = placeholder.ReplaceAllStringFunc(table[c.table][k], func(p string) string {
			if v, ok := c.vars[p[1:len(p)-1]]; ok {
				return v
			}
			return p
		})
	}
	return strings.Join(parts, sentenceSep(c.table))
}

func sentenceSep(lang string) string {
	if lang == "zh" {
		return ""
	}
	return " "
}

// waits are how errorMessage says a RATE_LIMITED wait, by seconds and language.
var waits = map[int]map[string]string{
	42:  {"en": "42 seconds", "ru": "42 секунды", "zh": "42秒钟"},
	90:  {"en": "1 minute 30 seconds", "ru": "1 минута 30 секунд", "zh": "1分钟30秒钟"},
	600: {"en": "10 minutes", "ru": "10 минут", "zh": "10分钟"},
}

// newMessageCases are every reason without data, and the errors whose data or
// method errorMessage says more about, in every language; then language
// tags.
func newMessageCases(reasons []string) messageCases {
	plain := map[string][]string{"PIN_FINAL_TRY": {"PIN_FINAL_TRY", "FINAL_TRY_CONFIRM"}}
	type variant struct {
		name, reason, method string
		data                 map[string]any
		bare                 bool
		keys                 []string
		vars                 func(lang string) map[string]string
	}
	var variants []variant
	for _, r := range reasons {
		keys := plain[r]
		if keys == nil {
			keys = []string{r}
		}
		variants = append(variants, variant{name: r, reason: r, keys: keys})
	}
	same := func(v map[string]string) func(string) map[string]string {
		return func(string) map[string]string { return v }
	}
	wait := func(s int) func(string) map[string]string {
		return func(lang string) map[string]string { return map[string]string{"wait": waits[s][lang]} }
	}
	variants = append(variants, []variant{
		{name: "wrong PIN, no flags", reason: "PIN_INCORRECT", data: map[string]any{"countLow": false, "finalTry": false}, keys: []string{"PIN_INCORRECT"}},
		{name: "wrong PIN, count low", reason: "PIN_INCORRECT", data: map[string]any{"countLow": true, "finalTry": false}, keys: []string{"PIN_INCORRECT", "COUNT_LOW"}},
		{name: "wrong PIN, final try", reason: "PIN_INCORRECT", data: map[string]any{"countLow": true, "finalTry": true}, keys: []string{"PIN_INCORRECT", "FINAL_TRY"}},
		{name: "wrong SO PIN, count low", reason: "SO_PIN_INCORRECT", method: "pin.unlock", data: map[string]any{"countLow": true, "finalTry": false}, keys: []string{"SO_PIN_INCORRECT", "SO_COUNT_LOW"}},
		{name: "wrong SO PIN, final try", reason: "SO_PIN_INCORRECT", method: "pin.unlock", data: map[string]any{"finalTry": true}, keys: []string{"SO_PIN_INCORRECT", "SO_FINAL_TRY"}},
		{name: "final try, confirmable", reason: "PIN_FINAL_TRY", method: "sign", data: map[string]any{"confirmable": true}, keys: []string{"PIN_FINAL_TRY", "FINAL_TRY_CONFIRM"}},
		{name: "final try from a web page", reason: "PIN_FINAL_TRY", method: "sign", data: map[string]any{"confirmable": false}, keys: []string{"PIN_FINAL_TRY", "FINAL_TRY_ELSEWHERE"}},
		{name: "SO PIN's final try from a web page", reason: "PIN_FINAL_TRY", method: "pin.unlock", data: map[string]any{"confirmable": false}, keys: []string{"PIN_FINAL_TRY_SO", "FINAL_TRY_ELSEWHERE"}},
		{name: "PIN lengths", reason: "PIN_INVALID", data: map[string]any{"minLen": 4, "maxLen": 8}, keys: []string{"PIN_INVALID", "PIN_LENGTH"}, vars: same(map[string]string{"min": "4", "max": "8"})},
		{name: "throttled", reason: "RATE_LIMITED", method: "sign", data: map[string]any{"retryAfterSeconds": 42}, keys: []string{"RATE_LIMITED", "RETRY_IN"}, vars: wait(42)},
		{name: "SO PIN throttled", reason: "RATE_LIMITED", method: "pin.unlock", data: map[string]any{"retryAfterSeconds": 90}, keys: []string{"RATE_LIMITED_SO", "RETRY_IN"}, vars: wait(90)},
		{name: "countdown", reason: "RATE_LIMITED", bare: true, data: map[string]any{"retryAfterSeconds": 600}, keys: []string{"RATE_LIMITED", "RETRY_IN"}, vars: wait(600)},
		{name: "batch item", reason: "INVALID_PARAMS", method: "sign.batch", data: map[string]any{"index": 3}, keys: []string{"INVALID_PARAMS", "ITEM"}, vars: same(map[string]string{"item": "4"})},
		{name: "agent not running", reason: "AGENT_UNREACHABLE", data: map[string]any{"agentRunning": false}, keys: []string{"AGENT_NOT_RUNNING"}},
		{name: "origin refused", reason: "AGENT_UNREACHABLE", data: map[string]any{"agentRunning": true}, keys: []string{"AGENT_REFUSED"}},
		{name: "agent busy", reason: "AGENT_UNREACHABLE", data: map[string]any{"agentRunning": true, "busy": true}, keys: []string{"AGENT_BUSY"}},
		{name: "question dismissed", reason: "AGENT_UNREACHABLE", data: map[string]any{"permission": "prompt"}, keys: []string{"AGENT_PROMPT"}},
		{name: "connection lost", reason: "AGENT_UNREACHABLE", method: "sign", data: map[string]any{"closeCode": 1006, "closeReason": ""}, keys: []string{"CONNECTION_LOST"}},
		{name: "browser must ask", reason: "LOCAL_NETWORK_DENIED", data: map[string]any{"permission": "prompt"}, keys: []string{"LOCAL_NETWORK_PROMPT"}},
		{name: "browser denies", reason: "LOCAL_NETWORK_DENIED", data: map[string]any{"permission": "denied"}, keys: []string{"LOCAL_NETWORK_DENIED"}},
		{name: "a reason of a newer agent", reason: "NEW_REASON", keys: []string{"UNKNOWN"}},
		{name: "not an error of the client", bare: true, keys: []string{"UNKNOWN"}},
	}...)
	var cs messageCases
	for _, lang := range languages {
		for _, v := range variants {
			c := messageCase{name: v.name, reason: v.reason, data: v.data, method: v.method, bare: v.bare, lang: lang, table: lang, keys: v.keys}
			if v.vars != nil {
				c.vars = v.vars(lang)
			}
			cs = append(cs, c)
		}
	}
	for tag, lang := range map[string]string{"ru-RU": "ru", "zh-Hans-CN": "zh", "EN-gb": "en", "de": "en", "": "en"} {
		cs = append(cs, messageCase{name: "language " + strconv.Quote(tag), reason: "PIN_LOCKED", lang: tag, table: lang, keys: []string{"PIN_LOCKED"}})
	}
	return cs
}

// realError is an error of the agent or the client, as the page got it,
// and what errorMessage said of it in each language.
type realError struct {
	Reason  string            `json:"reason"`
	Data    map[string]any    `json:"data"`
	Method  *string           `json:"method"`
	Message string            `json:"message"`
	Said    map[string]string `json:"said"`
}

// checkRealErrors checks errorMessage's sentences for the real errors the
// page's messages test made, in its order.
func checkRealErrors(t *testing.T, real []realError, table map[string]map[string]string) {
	t.Helper()
	pinFlags := map[string]any{"countLow": true, "finalTry": false}
	want := []struct {
		reason, method string
		data           map[string]any // what data must hold
		keys           []string
	}{
		{"METHOD_NOT_FOUND", "no.such.method", nil, []string{"METHOD_NOT_FOUND"}},
		{"INVALID_PARAMS", "certs.list", nil, []string{"INVALID_PARAMS"}},
		{"TOKEN_NOT_FOUND", "certs.list", nil, []string{"TOKEN_NOT_FOUND"}},
		{"INVALID_PARAMS", "sign.batch", map[string]any{"index": 1.0}, []string{"INVALID_PARAMS", "ITEM"}},
		{"INVALID_PARAMS", "certs.import", nil, []string{"INVALID_PARAMS"}},
		{"OBJECT_NOT_FOUND", "media.check", nil, []string{"OBJECT_NOT_FOUND"}},
		// SoftHSM sets count-low after the first wrong PIN.
		{"PIN_INCORRECT", "sign", pinFlags, []string{"PIN_INCORRECT", "COUNT_LOW"}},
		{"PIN_INCORRECT", "sign", pinFlags, []string{"PIN_INCORRECT", "COUNT_LOW"}},
		{"PIN_INCORRECT", "sign", pinFlags, []string{"PIN_INCORRECT", "COUNT_LOW"}},
		{"RATE_LIMITED", "sign", nil, []string{"RATE_LIMITED", "RETRY_IN"}},
		{"CLOSED", "agent.info", nil, []string{"CLOSED"}},
		{"AGENT_UNREACHABLE", "", map[string]any{"agentRunning": false}, []string{"AGENT_NOT_RUNNING"}},
	}
	if len(real) != len(want) {
		t.Fatalf("%d real errors, want %d: %+v", len(real), len(want), real)
	}
	for i, w := range want {
		r := real[i]
		method := ""
		if r.Method != nil {
			method = *r.Method
		}
		if r.Reason != w.reason || method != w.method {
			t.Errorf("real error %d: %s of %q, want %s of %q (%s)", i, r.Reason, method, w.reason, w.method, r.Message)
			continue
		}
		for k, v := range w.data {
			if r.Data[k] != v {
				t.Errorf("real error %d (%s): data.%s = %v, want %v (data %v)", i, r.Reason, k, r.Data[k], v, r.Data)
			}
		}
		for _, lang := range languages {
			said := r.Said[lang]
			if r.Message != "" && strings.Contains(said, r.Message) {
				t.Errorf("real error %d (%s) in %s shows the agent's message %q: %q", i, r.Reason, lang, r.Message, said)
			}
			c := messageCase{table: lang, keys: w.keys}
			switch w.reason {
			case "RATE_LIMITED": // the wait is the agent's: check the sentence and that a number follows
				prefix := table[lang]["RATE_LIMITED"] + sentenceSep(lang)
				if !strings.HasPrefix(said, prefix) || !strings.ContainsAny(said[len(prefix):], "0123456789") {
					t.Errorf("real RATE_LIMITED (retryAfterSeconds %v) in %s: %q, want %q and the wait", r.Data["retryAfterSeconds"], lang, said, prefix)
				}
				continue
			case "INVALID_PARAMS":
				if index, ok := r.Data["index"].(float64); ok {
					c.vars = map[string]string{"item": strconv.Itoa(int(index) + 1)}
				}
			}
			if want := c.expect(table); said != want {
				t.Errorf("real error %d (%s) in %s: errorMessage says %q, want %q", i, r.Reason, lang, said, want)
			}
		}
	}
}
