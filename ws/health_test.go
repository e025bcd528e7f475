package ws

import (
	"net/http"
	"testing"
)

// TestHealthzCORS: /healthz answers CORS for the origins the socket accepts
// (allowed_origins and the agent's own), and only for them, and answers a
// preflight.
func TestHealthzCORS(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true, AllowedOrigins: []string{"https://portal.example:8443"}}, emptyAgent(t))
	own := "http://127.0.0.1:" + ts.port
	tests := []struct {
		name, method, origin string
		status               int
		allowOrigin          string // Access-Control-Allow-Origin, "" for none
	}{
		{"allowed origin", http.MethodGet, "https://portal.example:8443", http.StatusOK, "https://portal.example:8443"},
		{"allowed origin, other spelling", http.MethodGet, "HTTPS://Portal.Example:8443", http.StatusOK, "https://portal.example:8443"},
		{"own origin", http.MethodGet, own, http.StatusOK, own},
		{"foreign origin", http.MethodGet, "https://evil.example", http.StatusOK, ""},
		{"opaque origin", http.MethodGet, "null", http.StatusOK, ""},
		{"no origin", http.MethodGet, "", http.StatusOK, ""},
		{"HEAD, allowed", http.MethodHead, "https://portal.example:8443", http.StatusOK, "https://portal.example:8443"},
		{"preflight, allowed", http.MethodOptions, "https://portal.example:8443", http.StatusNoContent, "https://portal.example:8443"},
		{"preflight, foreign", http.MethodOptions, "https://evil.example", http.StatusNoContent, ""},
		{"POST, allowed", http.MethodPost, "https://portal.example:8443", http.StatusMethodNotAllowed, "https://portal.example:8443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, ts.httpURL("/healthz"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			req.Header.Set("Access-Control-Request-Method", "GET")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.allowOrigin)
			}
			if got := h.Get("Vary"); got != "Origin" {
				t.Errorf("Vary %q, want Origin", got)
			}
			if tt.method != http.MethodGet && tt.method != http.MethodHead && h.Get("Allow") != healthMethods {
				t.Errorf("Allow %q, want %q", h.Get("Allow"), healthMethods)
			}
			preflight := tt.method == http.MethodOptions && tt.allowOrigin != ""
			if got := h.Get("Access-Control-Allow-Methods"); (got == "GET, HEAD") != preflight {
				t.Errorf("Access-Control-Allow-Methods %q on %s from %q", got, tt.method, tt.origin)
			}
		})
	}
}
