package gost_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// TestPKIXAgainstOpenSSL parses public keys OpenSSL's GOST engine makes
// with each parameter set it has, and encodes them back to the same bytes.
func TestPKIXAgainstOpenSSL(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		algorithm, paramset, name string
	}{
		{"gost2012_256", "A", "CryptoPro-A"},
		{"gost2012_256", "B", "CryptoPro-B"},
		{"gost2012_256", "C", "CryptoPro-C"},
		{"gost2012_256", "XA", "CryptoPro-XchA"},
		{"gost2012_256", "XB", "CryptoPro-XchB"},
		{"gost2012_256", "TCA", "TC26-256-A"},
		{"gost2012_256", "TCB", "TC26-256-B"},
		{"gost2012_256", "TCC", "TC26-256-C"},
		{"gost2012_256", "TCD", "TC26-256-D"},
		{"gost2012_512", "A", "TC26-512-A"},
		{"gost2012_512", "B", "TC26-512-B"},
		{"gost2012_512", "C", "TC26-512-C"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if out, ok := openssl.RunGOST(t, dir, "genpkey", "-algorithm", tt.algorithm, "-pkeyopt", "paramset:"+tt.paramset, "-out", "key.pem"); !ok {
				t.Fatalf("openssl genpkey: %s", out)
			}
			out, ok := openssl.RunGOST(t, dir, "pkey", "-in", "key.pem", "-pubout")
			if !ok {
				t.Fatalf("openssl pkey: %s", out)
			}
			block, _ := pem.Decode([]byte(out[bytes.Index([]byte(out), []byte("-----BEGIN")):]))
			pub, err := gost.ParsePKIX(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			bits := map[string]int{"gost2012_256": 256, "gost2012_512": 512}[tt.algorithm]
			if pub.ParamSet.Name != tt.name || pub.Variant.Bits != bits || len(pub.Point) != bits/4 {
				t.Errorf("key = %v, %d bits, %d-byte point; want %s, %d bits", pub.ParamSet, pub.Variant.Bits, len(pub.Point), tt.name, bits)
			}
			der, err := pub.MarshalPKIX()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(der, block.Bytes) {
				t.Errorf("MarshalPKIX = %x, OpenSSL wrote %x", der, block.Bytes)
			}
			again, err := gost.ParsePKIX(der)
			if err != nil || !again.Equal(pub) {
				t.Errorf("round trip: %v, %v", again, err)
			}
		})
	}
}

func TestParsePKIXRefuses(t *testing.T) {
	key, err := softhsm.GenerateKey("EC-P256")
	if err != nil {
		t.Fatal(err)
	}
	ec, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	good, err := mustKey(t).MarshalPKIX()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		der     []byte
		notGOST bool
	}{
		{"EC key", ec, true},
		{"empty", nil, false},
		{"trailing bytes", append(append([]byte(nil), good...), 0), false},
		{"short point", bytes.Replace(good, []byte{0x04, 0x40}, []byte{0x04, 0x3f}, 1)[:len(good)-1], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gost.ParsePKIX(tt.der)
			if err == nil || errors.Is(err, gost.ErrNotGOST) != tt.notGOST {
				t.Errorf("ParsePKIX = %v, want an error (ErrNotGOST: %v)", err, tt.notGOST)
			}
		})
	}
}

func mustKey(t *testing.T) *gost.PublicKey {
	t.Helper()
	ps, _ := gost.ParamSetByName("CryptoPro-A")
	k, err := gost.NewPublicKey(gost.V256, ps.OID, bytes.Repeat([]byte{7}, 64))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewPublicKey(t *testing.T) {
	a256, _ := gost.ParamSetByName("TC26-256-A")
	a512, _ := gost.ParamSetByName("TC26-512-A")
	unknown := asn1.ObjectIdentifier{1, 2, 643, 99, 1}
	for _, tt := range []struct {
		name     string
		v        gost.Variant
		oid      asn1.ObjectIdentifier
		pointLen int
		ok       bool
		shown    string
	}{
		{"256", gost.V256, a256.OID, 64, true, "TC26-256-A"},
		{"512", gost.V512, a512.OID, 128, true, "TC26-512-A"},
		{"unknown set", gost.V256, unknown, 64, true, "1.2.643.99.1"},
		{"512-bit set on a 256-bit key", gost.V256, a512.OID, 64, false, ""},
		{"point too long", gost.V256, a256.OID, 128, false, ""},
		{"point too short", gost.V512, a512.OID, 64, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := gost.NewPublicKey(tt.v, tt.oid, make([]byte, tt.pointLen))
			if (err == nil) != tt.ok {
				t.Fatalf("NewPublicKey: %v, want ok=%v", err, tt.ok)
			}
			if err == nil && k.ParamSet.String() != tt.shown {
				t.Errorf("param set %q, want %q", k.ParamSet, tt.shown)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	k := mustKey(t)
	other := mustKey(t)
	other.Point = bytes.Repeat([]byte{8}, 64)
	b, _ := gost.ParamSetByName("CryptoPro-B")
	otherSet, _ := gost.NewPublicKey(gost.V256, b.OID, k.Point)
	ec, _ := softhsm.GenerateKey("EC-P256")
	for _, tt := range []struct {
		name string
		x    any
		want bool
	}{
		{"itself", k, true},
		{"same key", mustKey(t), true},
		{"other point", other, false},
		{"other parameter set", otherSet, false},
		{"EC key", ec.Public().(*ecdsa.PublicKey), false},
		{"nil", (*gost.PublicKey)(nil), false},
	} {
		if got := k.Equal(tt.x); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestGenerationOrder(t *testing.T) {
	for bits, want := range map[int][]string{
		256: {"TC26-256-A", "TC26-256-B", "TC26-256-C", "TC26-256-D", "CryptoPro-A"},
		512: {"TC26-512-A", "TC26-512-B", "TC26-512-C"},
	} {
		var got []string
		for _, p := range gost.GenerationOrder(bits) {
			if p.Bits != bits {
				t.Errorf("%s offered for %d-bit keys", p, bits)
			}
			got = append(got, p.Name)
		}
		if !equalStrings(got, want) {
			t.Errorf("GenerationOrder(%d) = %v, want %v", bits, got, want)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
