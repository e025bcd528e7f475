package streebog_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"hash"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/streebog"
)

// reversed decodes hex as RFC 6986 prints messages and digests: as numbers,
// most significant byte first, so the bytes come in reverse order.
func reversed(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(b)
	return b
}

// The examples of RFC 6986 §10: M1 is "012…012" (63 bytes), M2 72 bytes of
// Cyrillic text in CP1251.
const (
	rfcM1 = "323130393837363534333231303938373635343332313039383736353433323130393837363534333231303938373635343332313039383736353433323130"
	rfcM2 = "fbe2e5f0eee3c820fbeafaebef20fffbf0e1e0f0f520e0ed20e8ece0ebe5f0f2f120fff0eeec20f120faf2fee5e2202ce8f6f3ede220e8e6eee1e8f0f2d1202ce8f0f2e5e220e5d1"
)

func TestRFC6986Examples(t *testing.T) {
	for _, tt := range []struct {
		name, message, digest string
		new                   func() hash.Hash
	}{
		{"M1-512", rfcM1, "486f64c1917879417fef082b3381a4e211c324f074654c38823a7b76f830ad00fa1fbae42b1285c0352f227524bc9ab16254288dd6863dccd5b9f54a1ad0541b", streebog.New512},
		{"M1-256", rfcM1, "00557be5e584fd52a449b16b0251d05d27f94ab76cbaa6da890b59d8ef1e159d", streebog.New256},
		{"M2-512", rfcM2, "28fbc9bada033b1460642bdcddb90c3fb3e56c497ccd0f62b8a2ad4935e85f037613966de4ee00531ae60f3b5a47f8dae06915d5f2f194996fcabf2622e6881e", streebog.New512},
		{"M2-256", rfcM2, "508f7e553c06501d749a66fc28c6cac0b005746d97537fa85d9e40904efed29d", streebog.New256},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := reversed(t, tt.message)
			h := tt.new()
			h.Write(msg)
			if got, want := h.Sum(nil), reversed(t, tt.digest); !bytes.Equal(got, want) {
				t.Errorf("digest %x, want %x", got, want)
			}
		})
	}
	if got := string(reversed(t, rfcM1)); got != "012345678901234567890123456789012345678901234567890123456789012" {
		t.Errorf("M1 = %q", got)
	}
}

func TestSumFunctions(t *testing.T) {
	data := []byte("Sum256 and Sum512 agree with the hash.Hash")
	h256, h512 := streebog.New256(), streebog.New512()
	h256.Write(data)
	h512.Write(data)
	s256, s512 := streebog.Sum256(data), streebog.Sum512(data)
	if !bytes.Equal(s256[:], h256.Sum(nil)) || !bytes.Equal(s512[:], h512.Sum(nil)) {
		t.Error("Sum256/Sum512 differ from New256/New512")
	}
	if h256.Size() != streebog.Size256 || h512.Size() != streebog.Size512 || h256.BlockSize() != streebog.BlockSize {
		t.Error("sizes")
	}
}

// TestStreaming writes the same data in pieces of every size around the
// block size, and checks Sum leaves the state alone and Reset restores it.
func TestStreaming(t *testing.T) {
	data := make([]byte, 1000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for _, newHash := range []func() hash.Hash{streebog.New256, streebog.New512} {
		whole := newHash()
		whole.Write(data)
		want := whole.Sum(nil)
		for _, piece := range []int{1, 7, 63, 64, 65, 128, 999} {
			h := newHash()
			for rest := data; len(rest) > 0; {
				n := min(piece, len(rest))
				h.Write(rest[:n])
				rest = rest[n:]
				_ = h.Sum(nil) // must not disturb the state
			}
			if got := h.Sum(nil); !bytes.Equal(got, want) {
				t.Errorf("size %d, pieces of %d: %x, want %x", h.Size(), piece, got, want)
			}
		}
		whole.Reset()
		whole.Write(data)
		if got := whole.Sum([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("after Reset, Sum appended %x", got)
		}
	}
}

// TestAgainstOpenSSL compares digests with OpenSSL's GOST engine on random
// inputs of lengths around the block boundaries, on blocks of 0xff bytes
// (the sum of the blocks carries from word to word), and on larger ones.
func TestAgainstOpenSSL(t *testing.T) {
	openssl.RequireGOST(t)
	r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	var inputs [][]byte
	for _, n := range []int{0, 1, 31, 32, 63, 64, 65, 127, 128, 129, 191, 192, 1000, 4096 + 7, 65536} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		inputs = append(inputs, b)
	}
	for range 8 {
		b := make([]byte, r.IntN(20000))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		inputs = append(inputs, b)
	}
	inputs = append(inputs, bytes.Repeat([]byte{0xff}, 64*5), bytes.Repeat([]byte{0xff}, 64*5+17))
	dir := t.TempDir()
	for i, in := range inputs {
		name := fmt.Sprintf("in%d", i)
		openssl.WriteFiles(t, dir, map[string][]byte{name: in})
		for _, tt := range []struct {
			md  string
			sum func([]byte) []byte
		}{
			{"-md_gost12_256", func(b []byte) []byte { s := streebog.Sum256(b); return s[:] }},
			{"-md_gost12_512", func(b []byte) []byte { s := streebog.Sum512(b); return s[:] }},
		} {
			out, ok := openssl.RunGOST(t, dir, "dgst", tt.md, "-hex", "-r", name)
			if !ok {
				t.Fatalf("openssl dgst %s: %s", tt.md, out)
			}
			want, _, _ := bytes.Cut([]byte(out), []byte(" "))
			if got := hex.EncodeToString(tt.sum(in)); got != string(want) {
				t.Errorf("%d bytes, %s: %s, OpenSSL %s", len(in), tt.md, got, want)
			}
		}
	}
}

func BenchmarkStreebog(b *testing.B) {
	for _, size := range []int{64, 1024, 1 << 20} {
		data := make([]byte, size)
		for _, v := range []struct {
			name string
			new  func() hash.Hash
		}{{"256", streebog.New256}, {"512", streebog.New512}} {
			b.Run(fmt.Sprintf("%s/%dB", v.name, size), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				h := v.new()
				out := make([]byte, 0, h.Size())
				for b.Loop() {
					h.Reset()
					h.Write(data)
					out = h.Sum(out[:0])
				}
			})
		}
	}
}
