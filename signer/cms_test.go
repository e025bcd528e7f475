package signer_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/signer"
)

// tokenSigner stands in for a hardware token: callers see only
// crypto.Signer, and it counts signatures and can fail them.
type tokenSigner struct {
	key   crypto.Signer
	err   error
	signs atomic.Int32
}

func (s *tokenSigner) Public() crypto.PublicKey { return s.key.Public() }

func (s *tokenSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.signs.Add(1)
	if s.err != nil {
		return nil, s.err
	}
	return s.key.Sign(r, digest, opts)
}

type testKey struct {
	name string
	rsa  bool
	key  crypto.Signer // the bare key: wrap it in a tokenSigner before use
	cert *x509.Certificate
}

type testPKI struct {
	caKey crypto.Signer
	ca    *x509.Certificate
	caPEM []byte
	keys  []testKey
}

// issue makes a certificate for pub, fit for openssl cms -verify's default
// purpose check (smimesign): digitalSignature and nonRepudiation, and the
// emailProtection EKU, so the verifier needs no -purpose any.
func (p *testPKI) issue(name string, pub crypto.PublicKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"tokenagent test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}, p.ca, pub, p.caKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// loadPKI makes a CA and a certified key of each kind once per test binary:
// RSA key generation is slow, more so under -race.
var loadPKI = sync.OnceValues(func() (*testPKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tokenagent test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := &testPKI{caKey: caKey, ca: ca, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	for _, k := range []struct {
		name string
		gen  func() (crypto.Signer, error)
	}{
		{"rsa2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
		{"rsa3072", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 3072) }},
		{"p256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		{"p384", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }},
	} {
		key, err := k.gen()
		if err != nil {
			return nil, err
		}
		cert, err := p.issue(k.name, key.Public())
		if err != nil {
			return nil, err
		}
		_, isRSA := key.(*rsa.PrivateKey)
		p.keys = append(p.keys, testKey{name: k.name, rsa: isRSA, key: key, cert: cert})
	}
	return p, nil
})

func sharedPKI(t *testing.T) *testPKI {
	t.Helper()
	p, err := loadPKI()
	if err != nil {
		t.Fatalf("making test pki: %v", err)
	}
	return p
}

func (p *testPKI) key(t *testing.T, name string) testKey {
	t.Helper()
	for _, k := range p.keys {
		if k.name == name {
			return k
		}
	}
	t.Fatalf("no test key %q", name)
	return testKey{}
}

// writeCMS writes what verifyCMS and printCMS read into a new directory:
// ca.pem, the signature as sig.p7s and content as data.bin.
func (p *testPKI) writeCMS(t *testing.T, der, content []byte) string {
	t.Helper()
	dir := t.TempDir()
	openssl.WriteFiles(t, dir, map[string][]byte{"ca.pem": p.caPEM, "sig.p7s": der, "data.bin": content})
	return dir
}

// verifyCMS runs openssl cms -verify on sig.p7s in dir, against data.bin
// when detached, and returns the content openssl vouches for, or its output
// when it rejects the signature. -cades makes openssl also require the
// signing-certificate-v2 attribute and check its hash and issuerSerial
// against the signer certificate.
func verifyCMS(t *testing.T, dir string, detached bool) (content []byte, out string, ok bool) {
	t.Helper()
	args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7s", "-CAfile", "ca.pem", "-cades", "-out", "verified.bin"}
	if detached {
		args = append(args, "-content", "data.bin")
	}
	if out, ok = openssl.Run(t, dir, args...); !ok {
		return nil, out, false
	}
	content, err := os.ReadFile(filepath.Join(dir, "verified.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return content, out, true
}

// printCMS returns openssl's dump of sig.p7s in dir.
func printCMS(t *testing.T, dir string) string {
	t.Helper()
	out, ok := openssl.Run(t, dir, "cms", "-cmsout", "-print", "-inform", "DER", "-in", "sig.p7s")
	if !ok {
		t.Fatalf("openssl cms -print: %s", out)
	}
	return out
}

var (
	reSignedDataVersion = regexp.MustCompile(`d\.signedData: *\n *version: (\d+)\n`)
	reSignerInfoVersion = regexp.MustCompile(`signerInfos:\n *version: (\d+)\n`)
	reDigestAlgorithms  = regexp.MustCompile(`digestAlgorithms:\n *algorithm: (.*)\n *parameter: (.*)\n *encapContentInfo:`)
	reDigestAlgorithm   = regexp.MustCompile(`digestAlgorithm: *\n *algorithm: (.*)\n *parameter: (.*)\n`)
	reSignatureAlg      = regexp.MustCompile(`signatureAlgorithm: *\n *algorithm: (.*)\n *parameter: (\S*)`)
	reEContent          = regexp.MustCompile(`eContent: *(<ABSENT>)?\n`)
	// The certHash must be the first field of the ESSCertIDv2: a SHA-256
	// hashAlgorithm is its DEFAULT, which DER leaves out.
	reCertHash = regexp.MustCompile(`id-smime-aa-signingCertificateV2 \(1\.2\.840\.113549\.1\.9\.16\.2\.47\)\n *set:\n *SEQUENCE:\n` +
		`.*d=0 .*SEQUENCE *\n.*d=1 .*SEQUENCE *\n.*d=2 .*SEQUENCE *\n.*d=3 .*prim: *OCTET STRING *\[HEX DUMP\]:([0-9A-F]+)\n`)
)

// matchDump returns the submatches of re in dump, failing the test without one.
func matchDump(t *testing.T, re *regexp.Regexp, dump string) []string {
	t.Helper()
	m := re.FindStringSubmatch(dump)
	if m == nil {
		t.Fatalf("openssl dump does not match %s:\n%s", re, dump)
	}
	return m[1:]
}

// derChildren returns the elements inside the constructed DER value v.
func derChildren(t *testing.T, v asn1.RawValue) []asn1.RawValue {
	t.Helper()
	var out []asn1.RawValue
	for rest := v.Bytes; len(rest) > 0; {
		var c asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &c); err != nil {
			t.Fatalf("parsing cms: %v", err)
		}
		out = append(out, c)
	}
	return out
}

// signedAttributes digs the signed attributes out of a DER ContentInfo by
// their position in RFC 5652's structures, checks their [0] IMPLICIT tag and
// DER order, and returns each attribute's single value by dotted OID.
// openssl checks neither: it verifies over the attributes in the order found.
func signedAttributes(t *testing.T, der []byte) map[string]asn1.RawValue {
	t.Helper()
	var ci asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 {
		t.Fatalf("parsing ContentInfo: %v, %d trailing bytes", err, len(rest))
	}
	signedData := derChildren(t, derChildren(t, ci)[1])[0]
	sdFields := derChildren(t, signedData)
	signerInfo := derChildren(t, sdFields[len(sdFields)-1])[0]
	attrs := derChildren(t, signerInfo)[3]
	if attrs.Class != asn1.ClassContextSpecific || attrs.Tag != 0 || !attrs.IsCompound {
		t.Fatalf("signedAttrs has class %d tag %d, want [0] IMPLICIT", attrs.Class, attrs.Tag)
	}
	values := map[string]asn1.RawValue{}
	var prev []byte
	for _, a := range derChildren(t, attrs) {
		if bytes.Compare(prev, a.FullBytes) > 0 {
			t.Errorf("signed attributes not in DER SET OF order: %x before %x", prev, a.FullBytes)
		}
		prev = a.FullBytes
		var attr struct {
			Type   asn1.ObjectIdentifier
			Values []asn1.RawValue `asn1:"set"`
		}
		if _, err := asn1.Unmarshal(a.FullBytes, &attr); err != nil || len(attr.Values) != 1 {
			t.Fatalf("attribute %x: %v, %d values", a.FullBytes, err, len(attr.Values))
		}
		values[attr.Type.String()] = attr.Values[0]
	}
	return values
}

const (
	oidStrContentType          = "1.2.840.113549.1.9.3"
	oidStrMessageDigest        = "1.2.840.113549.1.9.4"
	oidStrSigningTime          = "1.2.840.113549.1.9.5"
	oidStrSigningCertificateV2 = "1.2.840.113549.1.9.16.2.47"
)

// checkSigningTime checks that the signing-time attribute is want in UTC,
// in the exact DER form: UTCTime for 1950–2049, GeneralizedTime otherwise,
// whole seconds, and Z.
func checkSigningTime(t *testing.T, attrs map[string]asn1.RawValue, want time.Time) {
	t.Helper()
	got := attrs[oidStrSigningTime]
	wantTag, layout := asn1.TagUTCTime, "060102150405Z"
	if y := want.UTC().Year(); y < 1950 || y >= 2050 {
		wantTag, layout = asn1.TagGeneralizedTime, "20060102150405Z"
	}
	if got.Class != asn1.ClassUniversal || got.Tag != wantTag || string(got.Bytes) != want.UTC().Format(layout) {
		t.Errorf("signing time is tag %d %q, want tag %d %q", got.Tag, got.Bytes, wantTag, want.UTC().Format(layout))
	}
}

// Names openssl prints for the algorithm identifiers, as written by the RFCs.
var (
	digestNames = map[crypto.Hash]string{
		crypto.SHA256: "sha256 (2.16.840.1.101.3.4.2.1)",
		crypto.SHA384: "sha384 (2.16.840.1.101.3.4.2.2)",
		crypto.SHA512: "sha512 (2.16.840.1.101.3.4.2.3)",
	}
	ecdsaNames = map[crypto.Hash]string{
		crypto.SHA256: "ecdsa-with-SHA256 (1.2.840.10045.4.3.2)",
		crypto.SHA384: "ecdsa-with-SHA384 (1.2.840.10045.4.3.3)",
		crypto.SHA512: "ecdsa-with-SHA512 (1.2.840.10045.4.3.4)",
	}
)

func TestSignCMSVerifiesWithOpenSSL(t *testing.T) {
	pki := sharedPKI(t)
	// Binary on purpose: CR LF, NUL and high bytes must survive unchanged.
	content := []byte("tokenagent CMS test\r\n\x00\x01\xfe\xff payload\n")
	signingTime := time.Date(2031, time.May, 6, 7, 8, 9, 0, time.UTC)

	type testCase struct {
		key  testKey
		hash crypto.Hash
		pss  bool
		mode string // attached, detached, or digest (SignCMSDigest)
	}
	var cases []testCase
	for _, k := range pki.keys {
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			for _, pss := range []bool{false, true} {
				if pss && !k.rsa {
					continue
				}
				for _, mode := range []string{"attached", "detached", "digest"} {
					cases = append(cases, testCase{k, h, pss, mode})
				}
			}
		}
	}

	for _, tc := range cases {
		scheme := "ecdsa"
		if tc.key.rsa {
			scheme = "pkcs1v15"
			if tc.pss {
				scheme = "pss"
			}
		}
		t.Run(fmt.Sprintf("%s/%v/%s/%s", tc.key.name, tc.hash, scheme, tc.mode), func(t *testing.T) {
			t.Parallel()
			key := &tokenSigner{key: tc.key.key}
			opts := signer.CMSOptions{Hash: tc.hash, PSS: tc.pss, Detached: tc.mode != "attached", SigningTime: signingTime}
			h := tc.hash.New()
			h.Write(content)
			digest := h.Sum(nil)
			var der []byte
			var err error
			if tc.mode == "digest" {
				der, err = signer.SignCMSDigest(key, tc.key.cert, digest, opts)
			} else {
				der, err = signer.SignCMS(key, tc.key.cert, content, opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := key.signs.Load(); n != 1 {
				t.Errorf("token asked for %d signatures, want 1", n)
			}
			attrs := signedAttributes(t, der)
			if len(attrs) != 4 {
				t.Errorf("%d signed attributes, want 4", len(attrs))
			}
			if got := attrs[oidStrContentType].FullBytes; !bytes.Equal(got, []byte{6, 9, 42, 134, 72, 134, 247, 13, 1, 7, 1}) {
				t.Errorf("content-type %x, want id-data", got)
			}
			if got := attrs[oidStrMessageDigest]; got.Tag != asn1.TagOctetString || !bytes.Equal(got.Bytes, digest) {
				t.Errorf("message-digest %x, want %x", got.FullBytes, digest)
			}
			checkSigningTime(t, attrs, signingTime)
			if _, ok := attrs[oidStrSigningCertificateV2]; !ok {
				t.Error("no signing-certificate-v2 attribute")
			}

			dir := pki.writeCMS(t, der, content)
			got, out, ok := verifyCMS(t, dir, opts.Detached)
			if !ok {
				t.Fatalf("openssl rejects the signature: %s", out)
			}
			if !bytes.Equal(got, content) {
				t.Errorf("openssl verified content %q, want %q", got, content)
			}

			dump := printCMS(t, dir)
			if v := matchDump(t, reSignedDataVersion, dump)[0]; v != "1" {
				t.Errorf("SignedData version %s, want 1", v)
			}
			if v := matchDump(t, reSignerInfoVersion, dump)[0]; v != "1" {
				t.Errorf("SignerInfo version %s, want 1", v)
			}
			wantDigest := []string{digestNames[tc.hash], "<ABSENT>"}
			for _, re := range []*regexp.Regexp{reDigestAlgorithms, reDigestAlgorithm} {
				if m := matchDump(t, re, dump); m[0] != wantDigest[0] || m[1] != wantDigest[1] {
					t.Errorf("digest algorithm %q, want %q", m, wantDigest)
				}
			}
			wantSigAlg := []string{ecdsaNames[tc.hash], "<ABSENT>"}
			if tc.key.rsa {
				wantSigAlg = []string{"rsaEncryption (1.2.840.113549.1.1.1)", "NULL"}
				if tc.pss {
					// openssl checks the PSS parameters while verifying.
					wantSigAlg = []string{"rsassaPss (1.2.840.113549.1.1.10)", "SEQUENCE:"}
				}
			}
			if m := matchDump(t, reSignatureAlg, dump); m[0] != wantSigAlg[0] || m[1] != wantSigAlg[1] {
				t.Errorf("signature algorithm %q, want %q", m, wantSigAlg)
			}
			if absent := matchDump(t, reEContent, dump)[0] != ""; absent != opts.Detached {
				t.Errorf("eContent absent = %v, want %v", absent, opts.Detached)
			}
			certHash := sha256.Sum256(tc.key.cert.Raw)
			if got, want := matchDump(t, reCertHash, dump)[0], strings.ToUpper(hex.EncodeToString(certHash[:])); got != want {
				t.Errorf("signing-certificate-v2 certHash %s, want %s", got, want)
			}

			// Changing one byte of the content must make openssl fail on the
			// message digest, not on anything else.
			tampered := bytes.Clone(content)
			tampered[0] ^= 1
			if opts.Detached {
				openssl.WriteFiles(t, dir, map[string][]byte{"data.bin": tampered})
			} else {
				i := bytes.Index(der, content)
				if i < 0 || bytes.Contains(der[i+1:], content) {
					t.Fatal("embedded content not found exactly once")
				}
				tamperedDER := bytes.Clone(der)
				copy(tamperedDER[i:], tampered)
				openssl.WriteFiles(t, dir, map[string][]byte{"sig.p7s": tamperedDER})
			}
			if _, out, ok := verifyCMS(t, dir, opts.Detached); ok || !strings.Contains(out, "content verify error") {
				t.Errorf("openssl on tampered content: ok = %v, %s; want content verify error", ok, out)
			}
		})
	}
}

func TestSignCMSSigningTime(t *testing.T) {
	pki := sharedPKI(t)
	k := pki.key(t, "p256")
	content := []byte("signing time")
	for _, tc := range []struct {
		name string
		time time.Time // zero: now
	}{
		{"last UTCTime", time.Date(2049, time.December, 31, 23, 59, 59, 0, time.UTC)},
		{"first GeneralizedTime after", time.Date(2050, time.January, 1, 0, 0, 0, 0, time.UTC)},
		{"first UTCTime", time.Date(1950, time.January, 1, 0, 0, 0, 0, time.UTC)},
		{"last GeneralizedTime before", time.Date(1949, time.December, 31, 23, 59, 59, 0, time.UTC)},
		{"other zone, fractional seconds", time.Date(2030, time.March, 1, 1, 30, 0, 999_999_999, time.FixedZone("UTC+5:30", 5*3600+1800))},
		{"zero means now", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now().Truncate(time.Second)
			der, err := signer.SignCMS(&tokenSigner{key: k.key}, k.cert, content, signer.CMSOptions{Hash: crypto.SHA256, SigningTime: tc.time})
			if err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			attrs := signedAttributes(t, der)
			want := tc.time
			if want.IsZero() {
				if _, err := asn1.Unmarshal(attrs[oidStrSigningTime].FullBytes, &want); err != nil {
					t.Fatalf("parsing signing time: %v", err)
				}
				if want.Before(before) || want.After(after) {
					t.Errorf("signing time %v, want between %v and %v", want, before, after)
				}
			}
			checkSigningTime(t, attrs, want)
			if _, out, ok := verifyCMS(t, pki.writeCMS(t, der, content), false); !ok {
				t.Fatalf("openssl rejects the signature: %s", out)
			}
		})
	}
}

// An empty content is still embedded when attached: dropping eContent
// would silently make the signature detached.
func TestSignCMSEmptyAttachedContent(t *testing.T) {
	pki := sharedPKI(t)
	k := pki.key(t, "p256")
	for _, content := range [][]byte{nil, {}} {
		der, err := signer.SignCMS(&tokenSigner{key: k.key}, k.cert, content, signer.CMSOptions{Hash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		dir := pki.writeCMS(t, der, content)
		if absent := matchDump(t, reEContent, printCMS(t, dir))[0] != ""; absent {
			t.Errorf("content %#v: eContent absent", content)
		}
		if got, out, ok := verifyCMS(t, dir, false); !ok || len(got) != 0 {
			t.Errorf("content %#v: openssl verify = %q, %s; want empty content", content, got, out)
		}
	}
}

func TestSignCMSErrors(t *testing.T) {
	pki := sharedPKI(t)
	rsa2048, rsa3072, p256 := pki.key(t, "rsa2048"), pki.key(t, "rsa3072"), pki.key(t, "p256")
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edCert, err := pki.issue("ed25519", edKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	errToken := errors.New("token removed")
	digest256 := make([]byte, sha256.Size)

	for _, tc := range []struct {
		name      string
		key       crypto.Signer
		cert      *x509.Certificate
		digest    []byte // nil: SignCMS over "content"; else SignCMSDigest
		opts      signer.CMSOptions
		tokenErr  error // what the token's Sign returns
		want      error
		wantSigns int32
	}{
		{name: "sha1", key: p256.key, cert: p256.cert, opts: signer.CMSOptions{Hash: crypto.SHA1}, want: signer.ErrUnsupportedHash},
		{name: "no hash", key: p256.key, cert: p256.cert, opts: signer.CMSOptions{}, want: signer.ErrUnsupportedHash},
		{name: "digest sha1", key: p256.key, cert: p256.cert, digest: make([]byte, 20), opts: signer.CMSOptions{Hash: crypto.SHA1, Detached: true}, want: signer.ErrUnsupportedHash},
		{name: "short digest", key: p256.key, cert: p256.cert, digest: digest256[:31], opts: signer.CMSOptions{Hash: crypto.SHA256, Detached: true}, want: signer.ErrDigestLength},
		{name: "sha256 digest for sha384", key: p256.key, cert: p256.cert, digest: digest256, opts: signer.CMSOptions{Hash: crypto.SHA384, Detached: true}, want: signer.ErrDigestLength},
		{name: "pss with ecdsa", key: p256.key, cert: p256.cert, opts: signer.CMSOptions{Hash: crypto.SHA256, PSS: true}, want: signer.ErrPSSNotRSA},
		{name: "embed with digest", key: p256.key, cert: p256.cert, digest: digest256, opts: signer.CMSOptions{Hash: crypto.SHA256}, want: signer.ErrEmbedDigest},
		{name: "rsa key, ecdsa cert", key: rsa2048.key, cert: p256.cert, opts: signer.CMSOptions{Hash: crypto.SHA256}, want: signer.ErrKeyMismatch},
		{name: "other rsa key", key: rsa2048.key, cert: rsa3072.cert, opts: signer.CMSOptions{Hash: crypto.SHA256}, want: signer.ErrKeyMismatch},
		{name: "other rsa key, digest", key: rsa3072.key, cert: rsa2048.cert, digest: digest256, opts: signer.CMSOptions{Hash: crypto.SHA256, Detached: true}, want: signer.ErrKeyMismatch},
		{name: "ed25519", key: edKey, cert: edCert, opts: signer.CMSOptions{Hash: crypto.SHA256}, want: signer.ErrUnsupportedKey},
		{name: "token fails", key: rsa2048.key, cert: rsa2048.cert, opts: signer.CMSOptions{Hash: crypto.SHA256, PSS: true}, tokenErr: errToken, want: errToken, wantSigns: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := &tokenSigner{key: tc.key, err: tc.tokenErr}
			var der []byte
			var err error
			if tc.digest != nil {
				der, err = signer.SignCMSDigest(key, tc.cert, tc.digest, tc.opts)
			} else {
				der, err = signer.SignCMS(key, tc.cert, []byte("content"), tc.opts)
			}
			if !errors.Is(err, tc.want) || der != nil {
				t.Fatalf("got %x, %v; want error %v", der, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "signing cms: ") {
				t.Errorf("error %q lacks the signing cms: prefix", err)
			}
			if n := key.signs.Load(); n != tc.wantSigns {
				t.Errorf("token asked for %d signatures, want %d", n, tc.wantSigns)
			}
		})
	}
}
