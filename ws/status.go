package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"net/http"

	"github.com/tokenagent/tokenagent/agent"
)

// serveHealth answers /healthz.
func (s *Server) serveHealth(w http.ResponseWriter) {
	body, err := json.Marshal(healthWire{Status: "ok", Version: s.cfg.Version, Protocol: agent.Protocol})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// statusPage is the page at /: the tokens and their certificates. It is a
// placeholder for the self-service page.
var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tokenagent</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}</style>
</head>
<body>
<h1>tokenagent {{.Version}}</h1>
<p>Protocol {{.Protocol}}. Pages talk to this agent over the WebSocket at <code>/ws</code>.</p>
{{- if .Error}}
<p>Could not list the tokens: {{.Error}}</p>
{{- else if not .Tokens}}
<p>No tokens found.</p>
{{- end}}
{{- range .Tokens}}
<h2>{{.Token.Label}}</h2>
<p>{{.Token.Manufacturer}} {{.Token.Model}}, serial {{.Token.Serial}}{{if .Token.ReadOnly}}, read-only{{end}}{{if .Token.PIN.Locked}}, PIN locked{{end}}</p>
{{- if .Error}}
<p>Could not list the certificates: {{.Error}}</p>
{{- else if not .Certs}}
<p>No certificates.</p>
{{- else}}
<table>
<tr><th>Subject</th><th>Issuer</th><th>Not after</th><th>Status</th><th>Days left</th></tr>
{{- range .Certs}}
<tr><td>{{.Subject}}</td><td>{{.Issuer}}</td><td>{{.NotAfter}}</td><td>{{.Lifetime.Status}}</td><td>{{.Lifetime.DaysLeft}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- end}}
</body>
</html>
`))

type statusData struct {
	Version  string
	Protocol int
	Error    string
	Tokens   []statusToken
}

type statusToken struct {
	Token agent.Token
	Certs []certWire
	Error string
}

// serveStatusPage renders statusPage. The page is inert: no scripts, no
// forms, and headers that keep it from being framed or sniffed.
func (s *Server) serveStatusPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), statusPageTimeout)
	defer cancel()
	data := statusData{Version: s.cfg.Version, Protocol: agent.Protocol}
	tokens, err := s.agent.Tokens(ctx)
	if err != nil {
		data.Error = err.Error()
	}
	for _, t := range tokens {
		st := statusToken{Token: t}
		certs, err := s.agent.Certificates(ctx, t.ID)
		if err != nil {
			st.Error = err.Error()
		}
		st.Certs = toCerts(certs).Certificates
		data.Tokens = append(data.Tokens, st)
	}
	var buf bytes.Buffer
	if err := statusPage.Execute(&buf, data); err != nil {
		s.log.Error("rendering status page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(buf.Bytes())
}
