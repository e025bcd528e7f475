package ws

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestParamBounds sends each param one past its bound (PROTOCOL.md section
// 2): INVALID_PARAMS naming the param, one audit line for the call, and no
// login; at the bound the call goes through to the token.
func TestParamBounds(t *testing.T) {
	lc := newLifecycle(t, true)
	c := lc.dial("https://a.example")
	alice := lc.tokens["alice"]
	base := func(extra map[string]any) map[string]any {
		p := map[string]any{"token": alice, "pin": lcUserPIN}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	strs := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	cjk := strings.Repeat("文", 64) // 64 characters, 192 bytes: within commonName's 64
	tests := []struct {
		name    string
		method  string
		params  map[string]any
		mention string
	}{
		{"token id of 33 characters", "sign", base(map[string]any{"token": alice + "0", "cert": "01", "data": "eA=="}), `"token"`},
		{"object id of 257 bytes", "sign", base(map[string]any{"cert": strings.Repeat("0", 257), "data": "eA=="}), `"cert" must hold at most 256 bytes`},
		{"key id of 257 bytes", "csr.create", base(map[string]any{"key": strings.Repeat("0", 257), "subject": map[string]any{"commonName": "A"}}), `"key" must hold at most 256 bytes`},
		{"label of 257 bytes", "keys.generate", base(map[string]any{"algorithm": "EC-P256", "label": strings.Repeat("l", 257)}), `"label" must hold at most 256 bytes`},
		{"paramSet of 65 bytes", "keys.generate", base(map[string]any{"algorithm": "GOST-2012-256", "paramSet": strings.Repeat("p", 65)}), `"paramSet" must hold at most 64 bytes`},
		{"commonName of 65 characters", "csr.create", base(map[string]any{"key": "01", "subject": map[string]any{"commonName": cjk + "文"}}), "subject.commonName must hold at most 64 characters"},
		{"country of 3 characters", "csr.create", base(map[string]any{"key": "01", "subject": map[string]any{"commonName": "A", "country": "DEU"}}), "subject.country must hold at most 2 characters"},
		{"101 DNS names", "csr.create", base(map[string]any{"key": "01", "subject": map[string]any{"commonName": "A"}, "dnsNames": strs(101, "a.example")}), `"dnsNames" must hold at most 100 entries`},
		{"a DNS name of 254 characters", "csr.create", base(map[string]any{"key": "01", "subject": map[string]any{"commonName": "A"}, "dnsNames": []string{strings.Repeat("a", 254)}}), "dnsNames[0] must hold at most 253 characters"},
		{"an email of 256 characters", "csr.create", base(map[string]any{"key": "01", "subject": map[string]any{"commonName": "A"}, "emails": []string{strings.Repeat("a", 256)}}), "emails[0] must hold at most 255 characters"},
		{"a PIN of 1025 bytes", "sign", base(map[string]any{"pin": strings.Repeat("1", 1025), "cert": "01", "data": "eA=="}), `"pin" must hold at most 1024 bytes`},
		{"a new PIN of 1025 bytes", "pin.change", map[string]any{"token": alice, "oldPin": lcUserPIN, "newPin": strings.Repeat("1", 1025)}, `"newPin" must hold at most 1024 bytes`},
		{"a certificate of 64 KiB and more", "certs.import", base(map[string]any{"certificate": base64.StdEncoding.EncodeToString(make([]byte, 48<<10+3))}), `"certificate" must hold at most 65536 bytes`},
		{"1001 items", "sign.batch", base(map[string]any{"cert": "01", "items": make([]map[string]any, 1001)}), "items must hold 1 to 1000 entries"},
		{"no items", "sign.batch", base(map[string]any{"cert": "01", "items": []map[string]any{}}), "items must hold 1 to 1000 entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := len(lc.auditLines())
			lc.shim.ClearCalls(t)
			r := c.call(tt.method, tt.params)
			wantError(t, r, -32602, "INVALID_PARAMS")
			if !strings.Contains(r.Error.Message, tt.mention) {
				t.Errorf("message %q does not say %s", r.Error.Message, tt.mention)
			}
			all := lc.auditLines()
			if len(all) != lines+1 {
				t.Fatalf("%d audit lines for the call, want 1", len(all)-lines)
			}
			if last := all[len(all)-1]; last["method"] != tt.method || last["outcome"] != "INVALID_PARAMS" || len(last["token"]) > 32 {
				t.Errorf("audit line %v", last)
			}
			if n := lc.shim.Called(t, "C_Login"); n != 0 {
				t.Errorf("%d logins", n)
			}
		})
	}
	// At the bounds the calls reach the token.
	lc.shim.ClearCalls(t)
	gen := c.result("keys.generate", base(map[string]any{"algorithm": "EC-P256", "label": strings.Repeat("l", 256)}))
	c.result("csr.create", base(map[string]any{"key": gen["key"], "subject": map[string]any{"commonName": cjk, "country": "DE"},
		"dnsNames": strs(100, "a.example"), "emails": []string{strings.Repeat("a", 243) + "@example.com"}}))
	items := make([]map[string]any, 1000)
	for i := range items {
		items[i] = map[string]any{"data": "eA=="}
	}
	if sigs := c.result("sign.batch", base(map[string]any{"cert": "01", "items": items}))["signatures"].([]any); len(sigs) != 1000 {
		t.Errorf("%d signatures, want 1000", len(sigs))
	}
	if n := lc.shim.Called(t, "C_Login"); n != 3 {
		t.Errorf("%d logins at the bounds, want 3", n)
	}
}
