package token

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/miekg/pkcs11"
)

// session is a PKCS#11 session on a locked token, open for one call.
type session struct {
	*handle
	sh pkcs11.SessionHandle
}

// withSession opens a session on the token for fn and closes it after.
func (h *handle) withSession(rw bool, fn func(s *session) error) error {
	flags := uint(pkcs11.CKF_SERIAL_SESSION)
	if rw {
		flags |= pkcs11.CKF_RW_SESSION
	}
	sh, err := h.c.OpenSession(h.info.Slot, flags)
	if err != nil {
		return mapError("C_OpenSession", err)
	}
	defer h.c.CloseSession(sh) //nolint:errcheck // nothing to do about a failed close
	return fn(&session{handle: h, sh: sh})
}

// find returns the handles of every object matching template.
func (s *session) find(template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := s.c.FindObjectsInit(s.sh, template); err != nil {
		return nil, mapError("C_FindObjectsInit", err)
	}
	var all []pkcs11.ObjectHandle
	for {
		batch, _, err := s.c.FindObjects(s.sh, 64)
		if err != nil {
			_ = s.c.FindObjectsFinal(s.sh)
			return nil, mapError("C_FindObjects", err)
		}
		if len(batch) == 0 {
			break
		}
		all = append(all, batch...)
	}
	if err := s.c.FindObjectsFinal(s.sh); err != nil {
		return nil, mapError("C_FindObjectsFinal", err)
	}
	return all, nil
}

// attribute reads one attribute. Attributes are read one at a time because
// C_GetAttributeValue fails whole when any one of several is unreadable.
func (s *session) attribute(o pkcs11.ObjectHandle, typ uint) ([]byte, error) {
	attrs, err := s.c.GetAttributeValue(s.sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil {
		return nil, mapError("C_GetAttributeValue", err)
	}
	return attrs[0].Value, nil
}

// optionalAttribute is attribute for attributes an object may lack or hide:
// those read as empty.
func (s *session) optionalAttribute(o pkcs11.ObjectHandle, typ uint) ([]byte, error) {
	v, err := s.attribute(o, typ)
	var code pkcs11.Error
	if errors.As(err, &code) && (code == pkcs11.CKR_ATTRIBUTE_TYPE_INVALID || code == pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
		return nil, nil
	}
	return v, err
}

// object is the part of a token object that identifies it.
type object struct {
	handle pkcs11.ObjectHandle
	ckaID  []byte
	label  string
}

// readObject reads an object's CKA_ID and CKA_LABEL.
func (s *session) readObject(o pkcs11.ObjectHandle) (object, error) {
	ckaID, err := s.optionalAttribute(o, pkcs11.CKA_ID)
	if err != nil {
		return object{}, err
	}
	label, err := s.optionalAttribute(o, pkcs11.CKA_LABEL)
	if err != nil {
		return object{}, err
	}
	return object{handle: o, ckaID: ckaID, label: string(label)}, nil
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
	handle pkcs11.ObjectHandle
}

// Certificates lists the public X.509 certificate objects on token id. It
// needs no login.
func (m *Manager) Certificates(ctx context.Context, id string) ([]Certificate, error) {
	var certs []Certificate
	err := m.withToken(ctx, id, func(h *handle) error {
		return h.withSession(false, func(s *session) error {
			var err error
			certs, err = s.certificates(true)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing certificates: %w", err)
	}
	return certs, nil
}

// certificates lists the X.509 certificates in the session, only the public
// ones when publicOnly is set.
func (s *session) certificates(publicOnly bool) ([]Certificate, error) {
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
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
		obj, err := s.readObject(o)
		if err != nil {
			return nil, err
		}
		der, err := s.attribute(o, pkcs11.CKA_VALUE)
		if err != nil {
			return nil, err
		}
		objs = append(objs, certObject{object: obj, der: der})
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
		cert, err := x509.ParseCertificate(o.der)
		if err != nil {
			// A certificate object that is not X.509 DER is of no use to
			// a page; leave it out rather than fail the whole listing.
			continue
		}
		certs = append(certs, Certificate{ID: ids[i], Label: o.label, Cert: cert, handle: o.handle})
	}
	return certs, nil
}
