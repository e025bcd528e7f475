package audit

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/agent"
)

func TestLinesAreWholeAndOrderedFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "audit.log")
	l, f, err := Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	if err := f.Close(); err != nil {
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
