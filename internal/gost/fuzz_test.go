package gost_test

import (
	"bytes"
	"testing"

	"github.com/tokenagent/tokenagent/internal/gost"
)

// FuzzParsePKIX feeds any bytes to ParsePKIX, which reads the public key of
// every GOST certificate a page imports. It never panics; a key it accepts
// has a point of its size and a parameter set of its size when named, and
// encodes to a SubjectPublicKeyInfo that reads back as the same key.
func FuzzParsePKIX(f *testing.F) {
	for _, p := range gost.ParamSets {
		v, _ := gost.VariantOf(p.Bits)
		k, err := gost.NewPublicKey(v, p.OID, bytes.Repeat([]byte{0x5a}, 2*v.DigestSize()))
		if err != nil {
			f.Fatal(err)
		}
		der, err := k.MarshalPKIX()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		k, err := gost.ParsePKIX(der)
		if err != nil {
			return
		}
		if len(k.Point) != 2*k.Variant.DigestSize() || (k.ParamSet.Name != "" && k.ParamSet.Bits != k.Variant.Bits) {
			t.Fatalf("accepted %x as %+v", der, k)
		}
		again, err := k.MarshalPKIX()
		if err != nil {
			t.Fatal(err)
		}
		back, err := gost.ParsePKIX(again)
		if err != nil || !back.Equal(k) {
			t.Fatalf("%x reads as %+v, which encodes to %x, read back as %+v, %v", der, k, again, back, err)
		}
	})
}
