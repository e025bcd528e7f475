package ws

import (
	"io/fs"
	"net/http"
	pathpkg "path"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/web"
)

// servedAt is the path each file of the web package is served at: the
// client at the root, the page at /, the page's other files under /app/,
// the consent page at /consent and its other files under /consent/.
func servedAt(file string) string {
	switch file {
	case "app/index.html":
		return "/"
	case "consent/index.html":
		return "/consent"
	}
	return "/" + file
}

// TestAssets serves every file of the web package, each with the content
// type of its kind (a module with another type would not run: browsers
// refuse it under nosniff), CORS open, an ETag that revalidates, the Host
// check, and GET only; the pages, and only the pages, with their
// Content-Security-Policy.
func TestAssets(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	contentTypes := map[string]string{
		".js":   "text/javascript; charset=utf-8",
		".ts":   "application/typescript; charset=utf-8",
		".css":  "text/css; charset=utf-8",
		".html": "text/html; charset=utf-8",
	}
	var files []string
	err := fs.WalkDir(web.Files, ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tokenagent.js", "tokenagent.d.ts", "app/index.html", "app/app.js", "app/i18n.js", "app/app.css", "app/base.css",
		"consent/index.html", "consent/consent.js", "consent/i18n.js", "consent/consent.css"} {
		if !strings.Contains(strings.Join(files, " ")+" ", want+" ") {
			t.Errorf("the web package embeds no %s: %q", want, files)
		}
	}
	for _, file := range files {
		path := servedAt(file)
		want, err := fs.ReadFile(web.Files, file)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, ts.httpURL(path), "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, resp.StatusCode)
		}
		if body != string(want) {
			t.Errorf("GET %s: body differs from the embedded %s", path, file)
		}
		if ct, want := resp.Header.Get("Content-Type"), contentTypes[pathpkg.Ext(file)]; ct != want || want == "" {
			t.Errorf("GET %s: Content-Type %q, want %q", path, ct, want)
		}
		if acao := resp.Header.Get("Access-Control-Allow-Origin"); acao != "*" {
			t.Errorf("GET %s: Access-Control-Allow-Origin %q, want *", path, acao)
		}
		if nosniff := resp.Header.Get("X-Content-Type-Options"); nosniff != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", path, nosniff)
		}
		csp, policy := resp.Header.Get("Content-Security-Policy"), ""
		if path == "/" || path == "/consent" {
			policy = pagePolicy
			if resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("GET %s: X-Frame-Options %q, want DENY", path, resp.Header.Get("X-Frame-Options"))
			}
		}
		if csp != policy {
			t.Errorf("GET %s: Content-Security-Policy %q, want %q", path, csp, policy)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", path)
		}

		// Revalidation after the first load.
		req, err := http.NewRequest(http.MethodGet, ts.httpURL(path), nil)
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
			t.Errorf("GET %s If-None-Match: status %d, want 304", path, resp.StatusCode)
		}

		// The Host check applies here too.
		if resp, _ := get(t, ts.httpURL(path), "evil.example:"+ts.port); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s Host evil.example: status %d, want 403", path, resp.StatusCode)
		}
		resp, err = http.Post(ts.httpURL(path), "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: status %d, want 405", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/app/", "/app/index.html", "/app/nope.js", "/web.go", "/consent/", "/consent/index.html"} {
		if resp, _ := get(t, ts.httpURL(path), ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
	}
}

// importFrom finds the modules an ES module imports, statically or not.
var importFrom = regexp.MustCompile(`(?m)(?:^import .* from |\bimport\()"([^"]+)"`)

// TestPageModulesServed follows the page's imports from its entry module:
// each is one of the page's files (or the client), served as JavaScript
// from the agent's own origin, which is all the page's
// Content-Security-Policy lets it load; and each module under app/ is
// imported by one, none left out.
func TestPageModulesServed(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	_, page := get(t, ts.httpURL("/"), "")
	entry := regexp.MustCompile(`<script type="module" src="([^"]+)">`).FindStringSubmatch(page)
	if entry == nil {
		t.Fatalf("/ loads no module:\n%s", page)
	}
	reached := map[string]bool{}
	queue := []string{entry[1]}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if reached[path] {
			continue
		}
		reached[path] = true
		resp, body := get(t, ts.httpURL(path), "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("GET %s: status %d, Content-Type %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		for _, m := range importFrom.FindAllStringSubmatch(body, -1) {
			if !strings.HasPrefix(m[1], "./") && !strings.HasPrefix(m[1], "../") {
				t.Errorf("%s imports %q, not a file of the agent's", path, m[1])
				continue
			}
			queue = append(queue, pathpkg.Join(pathpkg.Dir(path), m[1]))
		}
	}
	modules, err := fs.Glob(web.Files, "app/*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range modules {
		if !reached[servedAt(m)] {
			t.Errorf("%s is imported by no module of the page", m)
		}
	}
	if !reached["/tokenagent.js"] || len(reached) != len(modules)+1 {
		t.Errorf("the page loads %v, want its %d modules and /tokenagent.js", reached, len(modules))
	}
}
