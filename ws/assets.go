package ws

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/tokenagent/tokenagent/web"
)

// asset is an embedded file served as it is.
type asset struct {
	body        []byte
	contentType string
	etag        string
	page        bool // an HTML page: not to be framed, scripts from the agent only
}

// The content types of the pages' files under app/ and consent/, by
// extension. A file of another kind there makes the package panic as it
// loads, so that every test of ws fails on it before an agent ships.
var pageTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// assets are the public files of the web package, by path: the JavaScript
// client, its type declarations, the self-service page, whose page is /
// and whose other files (its modules, its style sheet) are each under
// /app/, all of them, so that a module added to the page is served too,
// and the consent page, /consent with its files under /consent/.
var assets = loadAssets()

func loadAssets() map[string]asset {
	all := map[string]asset{
		"/tokenagent.js":   loadAsset("tokenagent.js", pageTypes[".js"]),
		"/tokenagent.d.ts": loadAsset("tokenagent.d.ts", "application/typescript; charset=utf-8"),
		"/":                loadPage("app/index.html"),
		"/consent":         loadPage("consent/index.html"),
	}
	for _, dir := range []string{"app", "consent"} {
		files, err := fs.ReadDir(web.Files, dir)
		if err != nil {
			panic("ws: embedded " + dir + "/ missing: " + err.Error())
		}
		for _, f := range files {
			name := f.Name()
			if name == "index.html" {
				continue
			}
			contentType, ok := pageTypes[path.Ext(name)]
			if !ok {
				panic("ws: embedded " + dir + "/" + name + ": no content type for its kind")
			}
			all["/"+dir+"/"+name] = loadAsset(dir+"/"+name, contentType)
		}
	}
	return all
}

func loadAsset(name, contentType string) asset {
	body, err := fs.ReadFile(web.Files, name)
	if err != nil {
		panic("ws: embedded " + name + " missing: " + err.Error())
	}
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// loadPage loads an HTML page of the web package.
func loadPage(name string) asset {
	a := loadAsset(name, "text/html; charset=utf-8")
	a.page = true
	return a
}

// pagePolicy keeps the self-service page and the consent page from being
// framed (they take PINs)
// and limits it to the agent's own scripts, styles and socket.
const pagePolicy = "default-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveAsset serves a, the public file at r.URL.Path. The files are public
// code, so any origin may read them (PROTOCOL.md section 1): a portal
// imports the module across origins, and the socket's origin check is what
// guards the agent. The ETag lets browsers revalidate cheaply after an
// upgrade of the agent changes them.
func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request, a asset) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if a.page {
		h.Set("Content-Security-Policy", pagePolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
