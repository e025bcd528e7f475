package audit

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/agent"
)

// BenchmarkAuditBatch writes the audit lines of one sign.batch of 100 items.
func BenchmarkAuditBatch(b *testing.B) {
	l := New(io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	recs := make([]agent.AuditRecord, 100)
	now := time.Now() // the agent stamps all the records of a call alike
	for i := range recs {
		recs[i] = agent.AuditRecord{Time: now, Origin: "https://portal.example", Method: "sign.batch",
			Token: "5f3a9c0e1b2d4c6a", Serial: "9f1c3e5a7b", Object: "01",
			CertSHA256: strings.Repeat("c", 64), DataSHA256: strings.Repeat("d", 64), Outcome: "ok"}
	}
	for b.Loop() {
		l.Audit(recs...)
	}
}
