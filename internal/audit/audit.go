// Package audit writes the agent's audit log: one JSON object per line, per
// PIN-taking call (one per item for sign.batch).
//
// A Log is safe for concurrent use. The lines of one call are written in
// order while the Log's lock is held, so they never interleave with
// another call's. They go out through one buffer of bufferBytes that the
// Log reuses, so a call's many lines cost a few writes and no memory in
// proportion to their number.
//
// A Log opened on a file (Open) keeps it under a size bound: before a
// write would take it past MaxBytes, the file is renamed audit.log.1 (the
// older ones shifting to .2, … up to Keep, the oldest dropped) and a new
// one begun. So the log never takes more than about MaxBytes × (Keep + 1)
// of disk, whatever the calls. Rotation happens between lines, so a
// sign.batch's lines may span two files.
package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/state"
)

// Defaults of Rotation.
const (
	DefaultMaxBytes = 16 << 20 // per file
	DefaultKeep     = 4        // rotated files kept beside the current one
)

// bufferBytes is how many bytes of lines are gathered before a write.
const bufferBytes = 32 << 10

// Rotation bounds the audit log file.
type Rotation struct {
	MaxBytes int64 // the size a file may reach; 0: DefaultMaxBytes
	Keep     int   // how many rotated files are kept; 0: DefaultKeep
}

// Log appends audit records to a writer, or to a file it rotates.
type Log struct {
	mu  sync.Mutex
	w   io.Writer    // where lines go; the current file when there is one
	log *slog.Logger // where write failures go
	buf []byte       // lines not yet written; reused

	// Set by Open.
	path string
	file *os.File // nil after a failed rotation, until a reopen succeeds
	size int64    // of the current file
	rot  Rotation
}

var _ agent.Auditor = (*Log)(nil)

// New returns a Log writing to w, without rotation.
func New(w io.Writer, log *slog.Logger) *Log {
	return &Log{w: w, log: log}
}

// Open opens (creating it and its directory if needed) the audit log file
// at path for appending, rotated as rot says. The file is the agent's
// user's and readable by it only: Open refuses a symbolic link, another
// user's file and a directory others may write in (internal/state), and
// tightens a file others could read to 0600, with a warning.
func Open(path string, rot Rotation, log *slog.Logger) (*Log, error) {
	if rot.MaxBytes <= 0 {
		rot.MaxBytes = DefaultMaxBytes
	}
	if rot.Keep <= 0 {
		rot.Keep = DefaultKeep
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the audit log directory: %w", err)
	}
	if err := state.CheckDir(dir); err != nil {
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	l := &Log{log: log, path: path, rot: rot}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

// open opens the file at l.path as the current one.
func (l *Log) open() error {
	f, was, err := state.OpenAppend(l.path)
	if err != nil {
		return fmt.Errorf("opening the audit log: %w", err)
	}
	if was != 0 {
		l.log.Warn("the audit log was open to other users; tightened to 0600 (who opened it before may still read it)",
			"path", l.path, "mode", fmt.Sprintf("%04o", was))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening the audit log: %w", err)
	}
	l.file, l.w, l.size = f, f, fi.Size()
	return nil
}

// Close closes the file of a Log made by Open.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file, l.w = nil, nil
	return err
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
	Consent    string `json:"consent,omitempty"`
	DataSHA256 string `json:"dataSha256,omitempty"`
	Outcome    string `json:"outcome"`
}

// Audit writes the records of one call, in order and together. A failed
// write is logged, not returned: the call they record has already
// happened.
func (l *Log) Audit(records ...agent.AuditRecord) {
	if len(records) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var head []byte
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
				Consent:    r.Consent,
			})
			head = bytes.TrimSuffix(b, []byte(`,"outcome":""}`))
		}
		start := len(l.buf)
		l.buf = append(l.buf, head...)
		if r.DataSHA256 != "" {
			l.buf = appendString(append(l.buf, `,"dataSha256":`...), r.DataSHA256)
		}
		l.buf = append(appendString(append(l.buf, `,"outcome":`...), r.Outcome), "}\n"...)
		if l.path != "" && l.size+int64(len(l.buf)) > l.rot.MaxBytes && l.size+int64(start) > 0 {
			// The line does not fit in the current file: it begins the
			// next one.
			l.write(l.buf[:start], r.Method)
			l.rotate()
			l.buf = l.buf[:copy(l.buf, l.buf[start:])]
		}
		if len(l.buf) >= bufferBytes {
			l.write(l.buf, r.Method)
			l.buf = l.buf[:0]
		}
	}
	l.write(l.buf, records[0].Method)
	l.buf = l.buf[:0]
	if cap(l.buf) > 2*bufferBytes { // after one huge line: do not keep its buffer
		l.buf = nil
	}
}

// write writes lines to the log, reopening the file first when a failed
// rotation left none open.
func (l *Log) write(lines []byte, method string) {
	if len(lines) == 0 {
		return
	}
	if l.path != "" && l.file == nil {
		if err := l.open(); err != nil {
			l.log.Error("audit records lost", "err", err, "method", method, "bytes", len(lines))
			return
		}
	}
	n, err := l.w.Write(lines)
	l.size += int64(n)
	if err != nil {
		l.log.Error("writing audit records", "err", err, "method", method, "bytes", len(lines))
	}
}

// rotate renames the current file audit.log.1, shifting the older ones
// and dropping the oldest, and opens a new one.
func (l *Log) rotate() {
	if l.file != nil {
		if err := l.file.Close(); err != nil {
			l.log.Warn("closing the audit log before rotating it", "err", err)
		}
		l.file, l.w = nil, nil
	}
	// Rename overwrites: the oldest kept file goes as the next one takes
	// its name.
	for i := l.rot.Keep - 1; i >= 1; i-- {
		if err := os.Rename(l.rotated(i), l.rotated(i+1)); err != nil && !os.IsNotExist(err) {
			l.log.Error("rotating the audit log", "err", err)
		}
	}
	if err := os.Rename(l.path, l.rotated(1)); err != nil {
		l.log.Error("rotating the audit log", "err", err)
	}
	if err := l.open(); err != nil {
		l.log.Error("rotating the audit log", "err", err)
	}
}

// rotated is the name of the i-th rotated file: audit.log.1 the newest.
func (l *Log) rotated(i int) string { return l.path + "." + strconv.Itoa(i) }

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
