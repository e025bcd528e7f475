package ws

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"time"

	"github.com/tokenagent/tokenagent/web"
)

// asset is an embedded file served as it is.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets are the public files of the web package, by path: the JavaScript
// client and its type declarations.
var assets = map[string]asset{
	"/tokenagent.js":   loadAsset("tokenagent.js", "text/javascript; charset=utf-8"),
	"/tokenagent.d.ts": loadAsset("tokenagent.d.ts", "application/typescript; charset=utf-8"),
}

func loadAsset(name, contentType string) asset {
	body, err := fs.ReadFile(web.Files, name)
	if err != nil {
		panic("ws: embedded " + name + " missing: " + err.Error())
	}
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// serveAsset serves the public file at r.URL.Path. The files are public
// code, so any origin may read them (PROTOCOL.md section 1): a portal
// imports the module across origins, and the socket's origin check is what
// guards the agent. The ETag lets browsers revalidate cheaply after an
// upgrade of the agent changes them.
func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
