// Package audit writes the agent's audit log: one JSON object per line, per
// PIN-taking call. A Log is safe for concurrent use; each record is written
// whole with one write, so lines never interleave.
package audit

import (
	"bytes"
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
	var buf, head []byte
	for i, r := range records {
		// The records of a sign.batch differ only in their last two
		// fields: the rest of the line is encoded once.
		if i == 0 || !sameCall(r, records[i-1]) {
			b, _ := json.Marshal(line{ // strings only: it cannot fail
				Time:       r.Time.UTC().Format(time.RFC3339),
				Origin:     r.Origin,
				Method:     r.Method,
				Token:      r.Token,
				Serial:     r.Serial,
				Object:     r.Object,
				CertSHA256: r.CertSHA256,
			})
			head = bytes.TrimSuffix(b, []byte(`,"outcome":""}`))
			if buf == nil {
				buf = make([]byte, 0, len(records)*(len(head)+128))
			}
		}
		buf = append(buf, head...)
		if r.DataSHA256 != "" {
			buf = appendString(append(buf, `,"dataSha256":`...), r.DataSHA256)
		}
		buf = append(appendString(append(buf, `,"outcome":`...), r.Outcome), "}\n"...)
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

// sameCall reports whether two records differ at most in DataSHA256 and
// Outcome.
func sameCall(a, b agent.AuditRecord) bool {
	a.DataSHA256, a.Outcome, b.DataSHA256, b.Outcome = "", "", "", ""
	return a == b
}

// appendString appends s as a JSON string, as json.Marshal writes it.
func appendString(buf []byte, s string) []byte {
	for _, c := range []byte(s) {
		// What json.Marshal escapes: control characters, quotes,
		// backslashes, HTML's <, > and &, and all beyond ASCII (to check
		// and replace invalid UTF-8).
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	return append(append(append(buf, '"'), s...), '"')
}
