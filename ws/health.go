package ws

import (
	"encoding/json"
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
