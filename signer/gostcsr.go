package signer

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tokenagent/tokenagent/internal/gost"
)

var (
	oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
)

// CreateGOSTCertificateRequest returns a DER PKCS#10 request (RFC 2986)
// signed with key, a GOST key, which crypto/x509 cannot do. From tmpl it
// takes the subject (RawSubject, else Subject) and DNSNames and
// EmailAddresses, which go into a subjectAltName extension request. The
// signature algorithm is id-tc26-signwithdigest-gost3410-12-256 (or -512),
// and the signature s‖r, as R 1323565.1.023-2018 puts it in X.509.
func CreateGOSTCertificateRequest(key *Key, tmpl *x509.CertificateRequest) ([]byte, error) {
	pub, ok := key.Public().(*gost.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key %s: %w: not a GOST key", key.key.ID, ErrUnsupportedKey)
	}
	spki, err := pub.MarshalPKIX()
	if err != nil {
		return nil, err
	}
	subject := tmpl.RawSubject
	if subject == nil {
		if subject, err = asn1.Marshal(tmpl.Subject.ToRDNSequence()); err != nil {
			return nil, fmt.Errorf("encoding the subject: %w", err)
		}
	}
	san, err := subjectAltName(tmpl.DNSNames, tmpl.EmailAddresses)
	if err != nil {
		return nil, err
	}
	var info cryptobyte.Builder
	info.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0) // version 1
		b.AddBytes(subject)
		b.AddBytes(spki)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(attrs *cryptobyte.Builder) {
			if san == nil {
				return
			}
			attrs.AddASN1(cbasn1.SEQUENCE, func(attr *cryptobyte.Builder) {
				attr.AddASN1ObjectIdentifier(oidExtensionRequest)
				attr.AddASN1(cbasn1.SET, func(values *cryptobyte.Builder) {
					values.AddASN1(cbasn1.SEQUENCE, func(exts *cryptobyte.Builder) {
						exts.AddASN1(cbasn1.SEQUENCE, func(ext *cryptobyte.Builder) {
							ext.AddASN1ObjectIdentifier(oidSubjectAltName)
							ext.AddASN1OctetString(san)
						})
					})
				})
			})
		})
	})
	infoDER, err := info.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	sig, err := key.SignData(infoDER, Streebog(pub.Variant.Bits))
	if err != nil {
		return nil, fmt.Errorf("signing the request: %w", err)
	}
	var csr cryptobyte.Builder
	csr.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(infoDER)
		b.AddASN1(cbasn1.SEQUENCE, func(alg *cryptobyte.Builder) {
			alg.AddASN1ObjectIdentifier(pub.Variant.SignatureOID)
		})
		b.AddASN1BitString(sig)
	})
	return csr.Bytes()
}

// subjectAltName encodes GeneralNames with the DNS names and email
// addresses, or returns nil when there are none.
func subjectAltName(dnsNames, emails []string) ([]byte, error) {
	if len(dnsNames) == 0 && len(emails) == 0 {
		return nil, nil
	}
	var b cryptobyte.Builder
	var bad error
	b.AddASN1(cbasn1.SEQUENCE, func(names *cryptobyte.Builder) {
		add := func(tag cbasn1.Tag, kind string, values []string) {
			for _, v := range values {
				if !isIA5(v) {
					bad = fmt.Errorf("%s %q: %w", kind, v, errNotIA5)
				}
				names.AddASN1(tag.ContextSpecific(), func(n *cryptobyte.Builder) { n.AddBytes([]byte(v)) })
			}
		}
		add(1, "email address", emails) // rfc822Name
		add(2, "DNS name", dnsNames)    // dNSName
	})
	if bad != nil {
		return nil, bad
	}
	return b.Bytes()
}

var errNotIA5 = errors.New("not ASCII, as an IA5String must be")

func isIA5(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
