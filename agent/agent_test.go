package agent

import (
	"testing"

	"github.com/tokenagent/tokenagent/token"
)

func TestReaderOf(t *testing.T) {
	readers := []token.Reader{
		{Name: "Virtual PCD 00 00", Present: true, ATR: []byte{0x3b, 0x95}},
		{Name: "Virtual PCD 00 01"},
	}
	tests := []struct {
		slot string
		want string
	}{
		{"Virtual PCD 00 00", "Virtual PCD 00 00"},
		{"virtual pcd 00 00 (slot 0)", "Virtual PCD 00 00"},
		{"Virtual PCD 00 01", ""}, // no card in it
		{"SoftHSM slot ID 0x1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		r, ok := readerOf(token.TokenInfo{SlotDescription: tt.slot}, readers)
		if ok != (tt.want != "") || r.Name != tt.want {
			t.Errorf("readerOf(%q) = %q, %v; want %q", tt.slot, r.Name, ok, tt.want)
		}
	}
}
