package token

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/pkcs11"
)

// object is the part of a token object that identifies it.
type object struct {
	handle pkcs11.ObjectHandle
	ckaID  []byte
	label  string
}

// ckaIDOf returns the CKA_ID an object id stands for, or nil when the id
// does not tell (an empty CKA_ID, or not an object id at all).
func ckaIDOf(id string) []byte {
	h, _, _ := strings.Cut(id, "~")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) == 0 {
		return nil
	}
	return b
}

// objectIDs gives the objects of one class, given by their CKA_IDs, their
// ids: the lowercase hex of CKA_ID, with "~N" appended to each further object
// sharing that CKA_ID (an empty CKA_ID gives "~0", "~1", …). The objects must
// come in a stable order, so that ids stay the same from call to call.
func objectIDs(ckaIDs [][]byte) []string {
	ids := make([]string, len(ckaIDs))
	seen := map[string]int{}
	for i, ckaID := range ckaIDs {
		h := hex.EncodeToString(ckaID)
		n := seen[h]
		seen[h] = n + 1
		if n == 0 && h != "" {
			ids[i] = h
		} else {
			ids[i] = h + "~" + strconv.Itoa(n)
		}
	}
	return ids
}

// Certificate is an X.509 certificate object on a token.
type Certificate struct {
	ID     string // object id, see the package doc
	Label  string
	Cert   *x509.Certificate
	ckaID  []byte
	handle pkcs11.ObjectHandle
}

// Certificates lists the public X.509 certificate objects on token id. It
// needs no login.
func (m *Manager) Certificates(ctx context.Context, id string) ([]Certificate, error) {
	var certs []Certificate
	err := m.withToken(ctx, id, func(t *heldToken) error {
		return t.withSession(Credentials{}, func(s *Session) error {
			var err error
			certs, err = s.certificates(true, nil)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing certificates: %w", err)
	}
	return certs, nil
}

// Certificates lists the certificate objects, public or private, visible in
// the session.
func (s *Session) Certificates() ([]Certificate, error) {
	return s.certificates(false, nil)
}

// Certificate returns the certificate with object id id.
func (s *Session) Certificate(id string) (Certificate, error) {
	// A certificate read before is confirmed by reading its value through
	// its handle, which is much cheaper than searching the token.
	if c, ok := s.state.certs[id]; ok && s.sameValue(c.handle, pkcs11.CKA_VALUE, c.Cert.Raw) {
		return c, nil
	}
	certs, err := s.certificates(false, ckaIDOf(id))
	if err != nil {
		return Certificate{}, err
	}
	for _, c := range certs {
		if c.ID == id {
			return c, nil
		}
	}
	return Certificate{}, fmt.Errorf("certificate %s: %w", id, ErrObjectNotFound)
}

// certificates lists the X.509 certificates in the session: only the public
// ones when publicOnly is set, only those with CKA_ID ckaID unless it is nil.
// Ids are assigned within each CKA_ID, so a filtered list gets the same ids
// as the full one. The certificates read are remembered, so that the next
// lookup by id needs one read to confirm instead of a search.
func (s *Session) certificates(publicOnly bool, ckaID []byte) ([]Certificate, error) {
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
	}
	if ckaID != nil {
		template = append(template, pkcs11.NewAttribute(pkcs11.CKA_ID, ckaID))
	}
	if publicOnly {
		template = append(template, pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false))
	}
	handles, err := s.find(template)
	if err != nil {
		return nil, err
	}
	type certObject struct {
		object
		der []byte
	}
	objs := make([]certObject, 0, len(handles))
	for _, o := range handles {
		v, err := s.attributes(o, pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_VALUE)
		if err != nil {
			return nil, err
		}
		objs = append(objs, certObject{object: object{handle: o, ckaID: v[0], label: padded(string(v[1]))}, der: v[2]})
	}
	// Handles need not be stable between sessions; CKA_ID and content are.
	sort.Slice(objs, func(i, j int) bool {
		if c := bytes.Compare(objs[i].ckaID, objs[j].ckaID); c != 0 {
			return c < 0
		}
		return bytes.Compare(objs[i].der, objs[j].der) < 0
	})
	ckaIDs := make([][]byte, len(objs))
	for i, o := range objs {
		ckaIDs[i] = o.ckaID
	}
	ids := objectIDs(ckaIDs)
	certs := make([]Certificate, 0, len(objs))
	for i, o := range objs {
		cert, err := parseCertificate(o.der)
		if err != nil {
			// A certificate object that is not X.509 DER is of no use to
			// a page; leave it out rather than fail the whole listing.
			continue
		}
		certs = append(certs, Certificate{ID: ids[i], Label: o.label, Cert: cert, ckaID: o.ckaID, handle: o.handle})
	}
	if s.state.certs == nil {
		s.state.certs = map[string]Certificate{}
	}
	for _, c := range certs {
		s.state.certs[c.ID] = c
	}
	return certs, nil
}

// forget drops what is remembered of the token's objects: this call is
// changing them.
func (s *Session) forget() { s.state.certs, s.state.keyAuth = nil, nil }
