package ws

import (
	"encoding/json"
	"net/http"

	"github.com/tokenagent/tokenagent/agent"
)

// healthMethods are the methods /healthz answers.
const healthMethods = "GET, HEAD, OPTIONS"

// serveHealth answers /healthz. A page on an origin the socket would accept
// (allowed_origins, or the agent's own) may read the answer across origins
// (CORS), so it can tell whether the agent runs before it opens a socket;
// OPTIONS answers a CORS preflight. Other origins get the same answer
// without CORS headers, which their browser keeps from them.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	if origin, ok := s.originAllowed(r); ok && origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.Set("Allow", healthMethods)
		if h.Get("Access-Control-Allow-Origin") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD")
			h.Set("Access-Control-Max-Age", "600")
		}
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", healthMethods)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := json.Marshal(healthWire{Status: "ok", Version: s.cfg.Version, Protocol: agent.Protocol})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}
