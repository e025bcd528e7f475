package ws

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkSignBatchParams reads a sign.batch request of 100 items, from
// the frame to the agent's inputs.
func BenchmarkSignBatchParams(b *testing.B) {
	items := strings.TrimSuffix(strings.Repeat(`{"data":"YSBkb2N1bWVudCB0byBzaWdu"},`, 100), ",")
	frame := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":7,"method":"sign.batch","params":{"token":"5f3a9c0e1b2d4c6a5f3a9c0e1b2d4c6a","pin":"1234","cert":"01","items":[%s]}}`, items)
	for b.Loop() {
		req, perr := parseRequest(frame)
		if perr != nil {
			b.Fatal(perr.Err)
		}
		p, err := readParams(req.Params)
		if err == nil {
			_, err = p.signItems()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
