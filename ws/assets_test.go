package ws

import (
	"io/fs"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/web"
)

func TestAssets(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	for _, tc := range []struct{ path, file, contentType string }{
		{"/tokenagent.js", "tokenagent.js", "text/javascript; charset=utf-8"},
		{"/tokenagent.d.ts", "tokenagent.d.ts", "application/typescript; charset=utf-8"},
	} {
		want, err := fs.ReadFile(web.Files, tc.file)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, ts.httpURL(tc.path), "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", tc.path, resp.StatusCode)
		}
		if body != string(want) {
			t.Errorf("GET %s: body differs from the embedded %s", tc.path, tc.file)
		}
		if ct := resp.Header.Get("Content-Type"); ct != tc.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, ct, tc.contentType)
		}
		if acao := resp.Header.Get("Access-Control-Allow-Origin"); acao != "*" {
			t.Errorf("GET %s: Access-Control-Allow-Origin %q, want *", tc.path, acao)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", tc.path)
		}

		// Revalidation after the first load.
		req, err := http.NewRequest(http.MethodGet, ts.httpURL(tc.path), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match: status %d, want 304", tc.path, resp.StatusCode)
		}

		// The Host check applies here too.
		if resp, _ := get(t, ts.httpURL(tc.path), "evil.example:"+ts.port); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s Host evil.example: status %d, want 403", tc.path, resp.StatusCode)
		}
		resp, err = http.Post(ts.httpURL(tc.path), "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: status %d, want 405", tc.path, resp.StatusCode)
		}
	}
}
