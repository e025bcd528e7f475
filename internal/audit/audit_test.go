package audit

import (
	"bufio"
	"encoding/json"
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
