package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // crypto.SHA384.New and crypto.SHA512.New need it linked in
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/tokenagent/tokenagent/internal/gost"
)

// Errors SignCMS and SignCMSDigest return before anything reaches the token.
var (
	ErrUnsupportedHash = fmt.Errorf("%w: hash", ErrUnsupported)
	ErrUnsupportedKey  = fmt.Errorf("%w: key type", ErrUnsupported)
	ErrDigestLength    = errors.New("digest length does not match the hash")
	ErrPSSNotRSA       = errors.New("pss needs an rsa key")
	ErrEmbedDigest     = errors.New("cannot embed content when only its digest is given")
	ErrKeyMismatch     = errors.New("key does not match the certificate")
)

// CMSOptions says how SignCMS builds the SignedData.
type CMSOptions struct {
	Hash        crypto.Hash // SHA256, SHA384 or SHA512
	Streebog    Streebog    // instead of Hash, for a GOST key: the Streebog of its size (gost.go)
	PSS         bool        // RSA only: RSASSA-PSS, salt length = hash length, MGF1 with the same hash
	Detached    bool        // true: no eContent
	SigningTime time.Time   // the signing-time attribute; zero means now
}

// SignCMS returns a DER ContentInfo holding a CAdES-BES SignedData (RFC 5652,
// ETSI EN 319 122-1) over content, embedded unless opts.Detached. The signed
// attributes are content-type, message-digest, signing-time and
// signing-certificate-v2; cert is included and identified by issuer and
// serial number. key is used only through its Sign method.
func SignCMS(key crypto.Signer, cert *x509.Certificate, content []byte, opts CMSOptions) ([]byte, error) {
	algs, err := cmsAlgorithms(key, cert, opts)
	if err != nil {
		return nil, fmt.Errorf("signing cms: %w", err)
	}
	digest, err := algs.sum(content)
	if err != nil {
		return nil, fmt.Errorf("signing cms: %w", err)
	}
	var eContent []byte
	if !opts.Detached {
		// A nil eContent is left out, which would turn an empty attached
		// signature into a detached one.
		if eContent = content; eContent == nil {
			eContent = []byte{}
		}
	}
	der, err := buildCMS(key, cert, algs, digest, eContent, opts.SigningTime)
	if err != nil {
		return nil, fmt.Errorf("signing cms: %w", err)
	}
	return der, nil
}

// SignCMSDigest is SignCMS for a detached signature when only the content's
// digest (computed with opts.Hash) is known. opts.Detached must be set.
func SignCMSDigest(key crypto.Signer, cert *x509.Certificate, digest []byte, opts CMSOptions) ([]byte, error) {
	if !opts.Detached {
		return nil, fmt.Errorf("signing cms: %w", ErrEmbedDigest)
	}
	algs, err := cmsAlgorithms(key, cert, opts)
	if err != nil {
		return nil, fmt.Errorf("signing cms: %w", err)
	}
	if len(digest) != algs.digestSize {
		return nil, fmt.Errorf("signing cms: %w: %d bytes, want %d", ErrDigestLength, len(digest), algs.digestSize)
	}
	der, err := buildCMS(key, cert, algs, digest, nil, opts.SigningTime)
	if err != nil {
		return nil, fmt.Errorf("signing cms: %w", err)
	}
	return der, nil
}

var (
	oidData                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidRSAEncryption        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidMGF1                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidRSASSAPSS            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
)

// cmsHashes maps each supported hash to its digest algorithm and its
// ecdsa-with-SHA* signature algorithm.
var cmsHashes = map[crypto.Hash]struct{ digest, ecdsa asn1.ObjectIdentifier }{
	crypto.SHA256: {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
	crypto.SHA384: {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}},
	crypto.SHA512: {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}},
}

// The ASN.1 structures below follow RFC 5652 unless noted.

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     signedData `asn1:"explicit,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     []asn1.RawValue `asn1:"set,tag:0"`
	SignerInfos      []signerInfo    `asn1:"set"`
}

type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     []byte `asn1:"optional,explicit,tag:0"`
}

type signerInfo struct {
	Version            int
	SID                issuerAndSerialNumber
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue // already DER with its [0] IMPLICIT tag
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

type issuerAndSerialNumber struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values []any `asn1:"set"`
}

// signingCertificateV2 is from RFC 5035.
type signingCertificateV2 struct {
	Certs []essCertIDv2
}

// essCertIDv2's hashAlgorithm is left out when it is SHA-256, its DEFAULT,
// as DER requires.
type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
	CertHash      []byte
	IssuerSerial  issuerSerial
}

type issuerSerial struct {
	Issuer       []asn1.RawValue // GeneralNames holding one directoryName
	SerialNumber *big.Int
}

// pssParams is RSASSA-PSS-params from RFC 4055; trailerField keeps its
// DEFAULT and so is left out.
type pssParams struct {
	Hash       pkix.AlgorithmIdentifier `asn1:"explicit,tag:0"`
	MGF        mgfAlgorithm             `asn1:"explicit,tag:1"`
	SaltLength int                      `asn1:"explicit,tag:2"`
}

type mgfAlgorithm struct {
	Algorithm asn1.ObjectIdentifier
	Hash      pkix.AlgorithmIdentifier
}

// cmsAlgs are the algorithms a signature is made and labelled with.
type cmsAlgs struct {
	digest, signature pkix.AlgorithmIdentifier
	signOpts          crypto.SignerOpts
	digestSize        int
	sum               func([]byte) ([]byte, error) // the digest of the content and of the signed attributes
	// essHash and essSum make the signing-certificate-v2 certificate hash;
	// a zero essHash is SHA-256.
	essHash pkix.AlgorithmIdentifier
	essSum  func([]byte) []byte
}

// localSum hashes with h, in this process.
func localSum(h crypto.Hash) func([]byte) ([]byte, error) {
	return func(data []byte) ([]byte, error) {
		w := h.New()
		w.Write(data)
		return w.Sum(nil), nil
	}
}

// sha256Sum is the signing-certificate-v2 hash of RSA and EC signatures.
func sha256Sum(data []byte) []byte {
	sum := sha256.Sum256(data)
	return sum[:]
}

// cmsAlgorithms picks the algorithms for key and opts, rejecting what cannot
// be signed before the token is asked to.
func cmsAlgorithms(key crypto.Signer, cert *x509.Certificate, opts CMSOptions) (cmsAlgs, error) {
	if cert = gost.WithPublicKey(cert); opts.Streebog != 0 || isGOST(cert.PublicKey) {
		return gostCMSAlgorithms(key, cert, opts)
	}
	oids, ok := cmsHashes[opts.Hash]
	if !ok {
		return cmsAlgs{}, fmt.Errorf("%w: %v", ErrUnsupportedHash, opts.Hash)
	}
	// A signature the certificate cannot verify is useless, and a token
	// signature is slow and may cost a PIN entry, so refuse it here.
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return cmsAlgs{}, ErrKeyMismatch
	}
	// RFC 5754 §2: the SHA-2 digest algorithms go without parameters.
	algs := cmsAlgs{
		digest: pkix.AlgorithmIdentifier{Algorithm: oids.digest}, signOpts: opts.Hash,
		digestSize: opts.Hash.Size(), sum: localSum(opts.Hash), essSum: sha256Sum,
	}
	switch cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if !opts.PSS {
			// rsaEncryption with NULL (RFC 3370 §3.2) is what OpenSSL
			// writes; the digest algorithm names the hash.
			algs.signature = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}
			break
		}
		// Hashes inside PSS parameters carry NULL (RFC 4055 §2.1), as
		// OpenSSL and crypto/x509 write them.
		hash := pkix.AlgorithmIdentifier{Algorithm: oids.digest, Parameters: asn1.NullRawValue}
		params, err := asn1.Marshal(pssParams{
			Hash:       hash,
			MGF:        mgfAlgorithm{Algorithm: oidMGF1, Hash: hash},
			SaltLength: opts.Hash.Size(),
		})
		if err != nil {
			return cmsAlgs{}, fmt.Errorf("encoding pss parameters: %w", err)
		}
		algs.signature = pkix.AlgorithmIdentifier{Algorithm: oidRSASSAPSS, Parameters: asn1.RawValue{FullBytes: params}}
		algs.signOpts = &rsa.PSSOptions{SaltLength: opts.Hash.Size(), Hash: opts.Hash}
	case *ecdsa.PublicKey:
		if opts.PSS {
			return cmsAlgs{}, ErrPSSNotRSA
		}
		// RFC 5758 §3.2: ecdsa-with-SHA* take no parameters.
		algs.signature = pkix.AlgorithmIdentifier{Algorithm: oids.ecdsa}
	default:
		return cmsAlgs{}, fmt.Errorf("%w: %T", ErrUnsupportedKey, cert.PublicKey)
	}
	return algs, nil
}

// buildCMS signs the attributes for a content with the given digest and
// wraps them in a ContentInfo, embedding eContent when it is not nil.
func buildCMS(key crypto.Signer, cert *x509.Certificate, algs cmsAlgs, digest, eContent []byte, signingTime time.Time) ([]byte, error) {
	if signingTime.IsZero() {
		signingTime = time.Now()
	}
	attrs := []attribute{
		{Type: oidContentType, Values: []any{oidData}},
		{Type: oidMessageDigest, Values: []any{digest}},
		// DER times must be in UTC; encoding/asn1 picks UTCTime for
		// 1950–2049 and GeneralizedTime otherwise, as RFC 5652 §11.3 asks.
		{Type: oidSigningTime, Values: []any{signingTime.UTC()}},
		{Type: oidSigningCertificateV2, Values: []any{signingCertificateV2{Certs: []essCertIDv2{{
			HashAlgorithm: algs.essHash,
			CertHash:      algs.essSum(cert.Raw),
			IssuerSerial: issuerSerial{
				// directoryName [4] holds a CHOICE, so its tag is explicit.
				Issuer:       []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: cert.RawIssuer}},
				SerialNumber: cert.SerialNumber,
			},
		}}}}},
	}
	// RFC 5652 §5.4: the signature covers the DER SET OF the attributes;
	// encoding/asn1 sorts SET OF elements as DER requires.
	set, err := asn1.MarshalWithParams(attrs, "set")
	if err != nil {
		return nil, fmt.Errorf("encoding signed attributes: %w", err)
	}
	attrsDigest, err := algs.sum(set)
	if err != nil {
		return nil, fmt.Errorf("hashing signed attributes: %w", err)
	}
	sig, err := key.Sign(rand.Reader, attrsDigest, algs.signOpts)
	if err != nil {
		return nil, fmt.Errorf("signing attributes: %w", err)
	}
	// The SignerInfo carries the very bytes that were signed, retagged
	// [0] IMPLICIT: SET (0x31) and [0] constructed (0xA0) are both one octet.
	implicit := append([]byte{0xA0}, set[1:]...)
	der, err := asn1.Marshal(contentInfo{
		ContentType: oidSignedData,
		Content: signedData{
			Version:          1,
			DigestAlgorithms: []pkix.AlgorithmIdentifier{algs.digest},
			EncapContentInfo: encapContentInfo{EContentType: oidData, EContent: eContent},
			Certificates:     []asn1.RawValue{{FullBytes: cert.Raw}},
			SignerInfos: []signerInfo{{
				Version:            1,
				SID:                issuerAndSerialNumber{Issuer: asn1.RawValue{FullBytes: cert.RawIssuer}, SerialNumber: cert.SerialNumber},
				DigestAlgorithm:    algs.digest,
				SignedAttrs:        asn1.RawValue{FullBytes: implicit},
				SignatureAlgorithm: algs.signature,
				Signature:          sig,
			}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding signed data: %w", err)
	}
	return der, nil
}
