package signer

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"testing"
)

func TestECDSADERMatchesEncodingASN1(t *testing.T) {
	half := func(size int, fill ...byte) []byte {
		b := make([]byte, size)
		copy(b[size-len(fill):], fill)
		return b
	}
	tests := []struct {
		name string
		r, s []byte
	}{
		{"P-256, top bits clear", half(32, 0x12, 0x34), half(32, 0x7f, 0xff, 0x01)},
		{"P-256, top bits set", bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0x80}, 32)},
		{"leading zero bytes", half(32, 0x00, 0x00, 0x81), half(32, 0x01)},
		{"zero", half(32), half(32)},
		{"P-384", bytes.Repeat([]byte{0x9a}, 48), bytes.Repeat([]byte{0x3c}, 48)},
		{"P-521, long-form length", append([]byte{0x01}, bytes.Repeat([]byte{0xee}, 65)...), append([]byte{0x01}, bytes.Repeat([]byte{0x11}, 65)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ecdsaDER(append(append([]byte(nil), tt.r...), tt.s...))
			if err != nil {
				t.Fatal(err)
			}
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(tt.r), new(big.Int).SetBytes(tt.s)})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("ecdsaDER = %x, want %x", got, want)
			}
		})
	}
	for _, n := range []int{0, 3, 2*66 + 2} {
		if _, err := ecdsaDER(make([]byte, n)); err == nil {
			t.Errorf("ecdsaDER of %d bytes: no error", n)
		}
	}
}
