package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/agent"
)

func TestLinesAreWholeAndOrderedFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "audit.log")
	l, err := Open(path, Rotation{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rec := agent.AuditRecord{
		Time: time.Date(2026, 11, 23, 12, 0, 0, 0, time.FixedZone("x", 3600)), Origin: "local", Method: "sign",
		Token: "b5c1", Serial: "9f1c", Object: "01a2", DataSHA256: "ab", Outcome: "ok",
	}
	var wg sync.WaitGroup
	// 25 single records and 25 batches of three (as sign.batch writes).
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				l.Audit(rec)
			} else {
				l.Audit(rec, rec, rec)
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit log mode = %v, %v; want 0600", st.Mode(), err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	n := 0
	for sc := bufio.NewScanner(file); sc.Scan(); n++ {
		var got map[string]string
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d: %v: %s", n, err, sc.Text())
		}
		want := map[string]string{"time": "2026-11-23T11:00:00Z", "origin": "local", "method": "sign", "token": "b5c1",
			"serial": "9f1c", "object": "01a2", "dataSha256": "ab", "outcome": "ok"}
		if len(got) != len(want) {
			t.Fatalf("line %d = %v, want %v", n, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("line %d: %s = %q, want %q", n, k, got[k], v)
			}
		}
	}
	if n != 25+25*3 {
		t.Errorf("%d lines, want 100", n)
	}
}

func TestLinesOfOneCall(t *testing.T) {
	var out strings.Builder
	l := New(&out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	pinChange := agent.AuditRecord{Time: at, Origin: "https://portal.example", Method: "pin.change", Token: "b5c1", Serial: "9f1c", Outcome: "PIN_INCORRECT"}
	l.Audit(pinChange)
	item := agent.AuditRecord{Time: at, Origin: "local", Method: "sign.batch", Token: "b5c1", Serial: "9f\"1c", Object: "02",
		CertSHA256: "cc", DataSHA256: "d1", Outcome: "ok"}
	second, third := item, item
	second.DataSHA256 = "d2"
	third.DataSHA256, third.Outcome = "d3", "TOKEN_REMOVED"
	l.Audit(item, second, third)
	want := `{"time":"2026-11-23T12:00:00Z","origin":"https://portal.example","method":"pin.change","token":"b5c1","serial":"9f1c","outcome":"PIN_INCORRECT"}
{"time":"2026-11-23T12:00:00Z","origin":"local","method":"sign.batch","token":"b5c1","serial":"9f\"1c","object":"02","certSha256":"cc","dataSha256":"d1","outcome":"ok"}
{"time":"2026-11-23T12:00:00Z","origin":"local","method":"sign.batch","token":"b5c1","serial":"9f\"1c","object":"02","certSha256":"cc","dataSha256":"d2","outcome":"ok"}
{"time":"2026-11-23T12:00:00Z","origin":"local","method":"sign.batch","token":"b5c1","serial":"9f\"1c","object":"02","certSha256":"cc","dataSha256":"d3","outcome":"TOKEN_REMOVED"}
`
	if out.String() != want {
		t.Errorf("audit lines:\n%s\nwant:\n%s", out.String(), want)
	}
}

// readLines returns the lines of the file at path, each checked to be a
// JSON object; none when it does not exist.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("%s: line %q is not JSON", path, l)
		}
	}
	return lines
}

// TestRotation writes far more than the bound: each file stays within it,
// Keep rotated files are kept, the newest lines are all there, in order,
// and the oldest are dropped.
func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	const maxBytes, keep = 4096, 2
	l, err := Open(path, Rotation{MaxBytes: maxBytes, Keep: keep}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	rec := func(i int) agent.AuditRecord {
		return agent.AuditRecord{Time: at, Origin: "local", Method: "sign.batch", Token: strings.Repeat("b", 32),
			Serial: "9f1c", Object: "01", DataSHA256: fmt.Sprintf("%064d", i), Outcome: "ok"}
	}
	const calls, perCall = 40, 25 // about 250 bytes a line: 250 KB in all
	for c := 0; c < calls; c++ {
		recs := make([]agent.AuditRecord, perCall)
		for i := range recs {
			recs[i] = rec(c*perCall + i)
		}
		l.Audit(recs...)
	}
	var kept []string // oldest first
	for i := keep; i >= 1; i-- {
		name := fmt.Sprintf("%s.%d", path, i)
		st, err := os.Stat(name)
		if err != nil {
			t.Fatalf("rotated file %d: %v", i, err)
		}
		if st.Size() > maxBytes || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %d bytes, mode %04o; want at most %d, 0600", name, st.Size(), st.Mode().Perm(), maxBytes)
		}
		kept = append(kept, readLines(t, name)...)
	}
	if st, err := os.Stat(path); err != nil || st.Size() > maxBytes {
		t.Errorf("current file: %v, %d bytes; want at most %d", err, st.Size(), maxBytes)
	}
	kept = append(kept, readLines(t, path)...)
	if _, err := os.Stat(fmt.Sprintf("%s.%d", path, keep+1)); !os.IsNotExist(err) {
		t.Errorf("a rotated file beyond Keep: %v", err)
	}
	last := calls*perCall - 1
	for i, line := range kept {
		want := fmt.Sprintf(`"dataSha256":"%064d"`, last-len(kept)+1+i)
		if !strings.Contains(line, want) {
			t.Fatalf("kept line %d = %s, want %s: lines lost or out of order", i, line, want)
		}
	}
	if len(kept) < 3*maxBytes/300 {
		t.Errorf("only %d lines kept in %d files of %d bytes", len(kept), keep+1, maxBytes)
	}
	t.Logf("%d of %d lines kept in %d files", len(kept), calls*perCall, keep+1)
}

// TestRotationReopensAppending: a log opened again (the agent restarted)
// appends to the current file and counts its size.
func TestRotationReopensAppending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	rec := agent.AuditRecord{Time: time.Now(), Origin: "local", Method: "sign", Token: "t", Serial: "s", Outcome: "ok"}
	for i := 0; i < 2; i++ {
		l, err := Open(path, Rotation{MaxBytes: 300, Keep: 1}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		l.Audit(rec, rec) // about 110 bytes each
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got, rotated := len(readLines(t, path)), len(readLines(t, path+".1")); got != 2 || rotated != 2 {
		t.Errorf("%d lines in the current file and %d in the rotated one, want 2 and 2", got, rotated)
	}
}
