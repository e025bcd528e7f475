// Package streebog implements the GOST R 34.11-2012 hash function
// (Streebog, RFC 6986) with 256- and 512-bit output, as a hash.Hash.
//
// Digests are written in the byte order that X.509, CMS, OpenSSL's GOST
// engine and PKCS#11 use: the RFC prints a digest as a number with its most
// significant byte first, and the bytes here are that number's little-endian
// encoding (the RFC's hex read backwards, byte by byte). Messages are taken
// the same way: the RFC's example messages are printed reversed too.
//
// A digest is not safe for concurrent use; New256 and New512 make
// independent ones. There is no assembly: the compression function works
// on 64-bit words with precomputed tables (lpsTable), which is what makes it
// usable for signing large files in the agent.
package streebog

import (
	"encoding/binary"
	"hash"
)

// The sizes of the two variants, in bytes, and the block size.
const (
	Size256   = 32
	Size512   = 64
	BlockSize = 64
)

// digest is the hash state: h, the message length in bits so far (n) and the
// sum of the blocks (sigma) are 512-bit numbers held as eight little-endian
// 64-bit words, least significant first.
type digest struct {
	h, n, sigma [8]uint64
	buf         [BlockSize]byte
	nbuf        int
	size        int
}

// New256 returns a Streebog-256 hash (GOST R 34.11-2012 with 256-bit output).
func New256() hash.Hash { return newDigest(Size256) }

// New512 returns a Streebog-512 hash (GOST R 34.11-2012 with 512-bit output).
func New512() hash.Hash { return newDigest(Size512) }

// Sum256 returns the Streebog-256 digest of data.
func Sum256(data []byte) [Size256]byte {
	var out [Size256]byte
	d := newDigest(Size256)
	d.Write(data)
	d.sum(out[:0])
	return out
}

// Sum512 returns the Streebog-512 digest of data.
func Sum512(data []byte) [Size512]byte {
	var out [Size512]byte
	d := newDigest(Size512)
	d.Write(data)
	d.sum(out[:0])
	return out
}

func newDigest(size int) *digest {
	d := &digest{size: size}
	d.Reset()
	return d
}

// Reset restores the initial state: the IV is all zero bytes for 512-bit
// output and all 0x01 bytes for 256-bit output (RFC 6986 §5).
func (d *digest) Reset() {
	var iv uint64
	if d.size == Size256 {
		iv = 0x0101010101010101
	}
	for i := range d.h {
		d.h[i], d.n[i], d.sigma[i] = iv, 0, 0
	}
	d.nbuf = 0
}

func (d *digest) Size() int      { return d.size }
func (d *digest) BlockSize() int { return BlockSize }

// Write never fails.
func (d *digest) Write(p []byte) (int, error) {
	n := len(p)
	if d.nbuf > 0 {
		c := copy(d.buf[d.nbuf:], p)
		d.nbuf += c
		p = p[c:]
		if d.nbuf < BlockSize {
			return n, nil
		}
		d.block(d.buf[:])
		d.nbuf = 0
	}
	for len(p) >= BlockSize {
		d.block(p[:BlockSize])
		p = p[BlockSize:]
	}
	d.nbuf = copy(d.buf[:], p)
	return n, nil
}

// block processes one full 64-byte block (RFC 6986 §8.2).
func (d *digest) block(b []byte) {
	var m [8]uint64
	for i := range m {
		m[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	d.h = compress(d.h, d.n, m)
	add512(&d.n, [8]uint64{BlockSize * 8})
	add512(&d.sigma, m)
}

// Sum appends the digest to b without changing the state.
func (d *digest) Sum(b []byte) []byte {
	c := *d
	return c.sum(b)
}

// sum finishes the hash (RFC 6986 §8.3): the last, partial block padded
// with 0x01 and zeros, then the length and the sum of the blocks, each
// compressed with N = 0.
func (d *digest) sum(b []byte) []byte {
	var last [BlockSize]byte
	copy(last[:], d.buf[:d.nbuf])
	last[d.nbuf] = 0x01
	var m [8]uint64
	for i := range m {
		m[i] = binary.LittleEndian.Uint64(last[8*i:])
	}
	d.h = compress(d.h, d.n, m)
	add512(&d.n, [8]uint64{uint64(d.nbuf) * 8})
	add512(&d.sigma, m)
	var zero [8]uint64
	d.h = compress(d.h, zero, d.n)
	d.h = compress(d.h, zero, d.sigma)
	// The 256-bit digest is the most significant half of h.
	words := d.h[:]
	if d.size == Size256 {
		words = d.h[4:]
	}
	for _, w := range words {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

// add512 adds y to x modulo 2^512.
func add512(x *[8]uint64, y [8]uint64) {
	var carry uint64
	for i := range x {
		s := x[i] + y[i]
		c := 0
		if s < x[i] {
			c = 1
		}
		s2 := s + carry
		if s2 < s {
			c = 1
		}
		x[i], carry = s2, uint64(c)
	}
}

// compress is the compression function g_N(h, m) = E(LPS(h ⊕ N), m) ⊕ h ⊕ m
// (RFC 6986 §7).
func compress(h, n, m [8]uint64) [8]uint64 {
	var k, s [8]uint64
	for i := range k {
		k[i] = h[i] ^ n[i]
	}
	k = lps(k)
	for i := range s {
		s[i] = k[i] ^ m[i]
	}
	// E: twelve rounds of LPS with round keys K_{i+1} = LPS(K_i ⊕ C_i).
	for r := range roundConstants {
		s = lps(s)
		for i := range k {
			k[i] ^= roundConstants[r][i]
		}
		k = lps(k)
		for i := range s {
			s[i] ^= k[i]
		}
	}
	for i := range s {
		s[i] ^= h[i] ^ m[i]
	}
	return s
}

// lps is the round transformation L∘P∘S on a 512-bit state. P transposes
// the state as an 8×8 matrix of bytes, so byte j of output word i is byte i
// of input word j, substituted; lpsTable folds S and L per byte position.
func lps(x [8]uint64) (out [8]uint64) {
	t0, t1, t2, t3 := &lpsTable[0], &lpsTable[1], &lpsTable[2], &lpsTable[3]
	t4, t5, t6, t7 := &lpsTable[4], &lpsTable[5], &lpsTable[6], &lpsTable[7]
	x0, x1, x2, x3, x4, x5, x6, x7 := x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]
	for i := range out {
		out[i] = t0[byte(x0)] ^ t1[byte(x1)] ^ t2[byte(x2)] ^ t3[byte(x3)] ^
			t4[byte(x4)] ^ t5[byte(x5)] ^ t6[byte(x6)] ^ t7[byte(x7)]
		x0, x1, x2, x3, x4, x5, x6, x7 = x0>>8, x1>>8, x2>>8, x3>>8, x4>>8, x5>>8, x6>>8, x7>>8
	}
	return out
}

// lpsTable[j][v] is L applied to a 64-bit word whose byte j is pi[v] and
// whose other bytes are zero. L multiplies by the matrix A: bit k of the
// word, counted from the least significant, selects row 63-k.
var lpsTable = func() (t [8][256]uint64) {
	for j := range t {
		for v := range t[j] {
			s := uint64(pi[v])
			var w uint64
			for b := range 8 {
				if s>>b&1 != 0 {
					w ^= linear[63-(8*j+b)]
				}
			}
			t[j][v] = w
		}
	}
	return t
}()
