// Package audit writes the agent's audit log: one JSON object per line, per
// PIN-taking call. A Log is safe for concurrent use; each record is written
// whole with one write, so lines never interleave.
package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tokenagent/tokenagent/agent"
)

// Log appends audit records to a writer.
type Log struct {
	mu  sync.Mutex
	w   io.Writer
	log *slog.Logger // where write failures go
}

var _ agent.Auditor = (*Log)(nil)

// New returns a Log writing to w.
func New(w io.Writer, log *slog.Logger) *Log {
	return &Log{w: w, log: log}
}

// Open opens (creating it and its directory if needed) the audit log file
// at path for appending. The file is readable by its owner only.
func Open(path string, log *slog.Logger) (*Log, *os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating the audit log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the audit log: %w", err)
	}
	return New(f, log), f, nil
}

// line is the JSON form of a record, with the protocol's field names.
type line struct {
	Time       string `json:"time"`
	Origin     string `json:"origin"`
	Method     string `json:"method"`
	Token      string `json:"token"`
	Serial     string `json:"serial"`
	Object     string `json:"object,omitempty"`
	CertSHA256 string `json:"certSha256,omitempty"`
	DataSHA256 string `json:"dataSha256,omitempty"`
	Outcome    string `json:"outcome"`
}

// Audit writes the records of one call with one write, so that they
// neither interleave with another call's nor cost a system call each. A
// failed write is logged, not returned: the call they record has already
// happened.
func (l *Log) Audit(records ...agent.AuditRecord) {
	var buf []byte
	for _, r := range records {
		b, err := json.Marshal(line{
			Time:       r.Time.UTC().Format(time.RFC3339),
			Origin:     r.Origin,
			Method:     r.Method,
			Token:      r.Token,
			Serial:     r.Serial,
			Object:     r.Object,
			CertSHA256: r.CertSHA256,
			DataSHA256: r.DataSHA256,
			Outcome:    r.Outcome,
		})
		if err != nil {
			l.log.Error("encoding audit record", "err", err)
			continue
		}
		buf = append(append(buf, b...), '\n')
	}
	if len(buf) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(buf); err != nil {
		l.log.Error("writing audit records", "err", err, "method", records[0].Method, "records", len(records))
	}
}
