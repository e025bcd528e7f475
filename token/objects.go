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
	"strings"

	"github.com/miekg/pkcs11"
)

// session is a PKCS#11 session on a locked token, open for one call.
type session struct {
	*handle
	sh pkcs11.SessionHandle
}

// withSession runs fn in the token's session. A token keeps one session
// open from call to call, read-write unless the token is write-protected:
// opening sessions and finding objects again is what makes calls slow, and
// SoftHSM forgets object handles when a token's last session closes. The
// token lock serialises its use, and every call logs out before it returns,
// so no login passes from one call to the next. A call that fails may leave
// the session in any state (an operation still active, say), so the session
// is closed then and the next call opens a fresh one.
func (h *handle) withSession(fn func(s *session) error) error {
	sh, err := h.mod.session(h.c, h.info)
	if err != nil {
		return err
	}
	if err := fn(&session{handle: h, sh: sh}); err != nil {
		h.mod.dropSession(h.c, h.info.ID, sh)
		return err
	}
	return nil
}

// session returns the open session of the token, opening one if there is
// none or the one kept is no longer valid.
func (mod *Module) session(c *pkcs11.Ctx, info TokenInfo) (pkcs11.SessionHandle, error) {
	mod.byToken.Lock()
	sh, ok := mod.sessions[info.ID]
	mod.byToken.Unlock()
	if ok {
		if si, err := c.GetSessionInfo(sh); err == nil && si.SlotID == info.Slot {
			return sh, nil
		}
		mod.dropSession(c, info.ID, sh)
	}
	sh, err := c.OpenSession(info.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_TOKEN_WRITE_PROTECTED)) {
		sh, err = c.OpenSession(info.Slot, pkcs11.CKF_SERIAL_SESSION)
	}
	if err != nil {
		return 0, mapError("C_OpenSession", err)
	}
	mod.byToken.Lock()
	mod.sessions[info.ID] = sh
	mod.byToken.Unlock()
	return sh, nil
}

// dropSession closes a token's session and forgets it.
func (mod *Module) dropSession(c *pkcs11.Ctx, id string, sh pkcs11.SessionHandle) {
	mod.byToken.Lock()
	delete(mod.sessions, id)
	mod.byToken.Unlock()
	_ = c.CloseSession(sh) // it may be gone with its token already
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
	err := m.withToken(ctx, id, func(h *handle) error {
		return h.withSession(func(s *session) error {
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

// certificates lists the X.509 certificates in the session: only the public
// ones when publicOnly is set, only those with CKA_ID ckaID unless it is nil.
// Ids are assigned within each CKA_ID, so a filtered list gets the same ids
// as the full one.
func (s *session) certificates(publicOnly bool, ckaID []byte) ([]Certificate, error) {
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
		obj, der, err := s.readCertificate(o)
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
		cert, err := parseCertificate(o.der)
		if err != nil {
			// A certificate object that is not X.509 DER is of no use to
			// a page; leave it out rather than fail the whole listing.
			continue
		}
		certs = append(certs, Certificate{ID: ids[i], Label: o.label, Cert: cert, ckaID: o.ckaID, handle: o.handle})
	}
	s.mod.remember(s.info.ID, certs)
	return certs, nil
}

// readCertificate reads a certificate object's CKA_ID, CKA_LABEL and value.
// Each call to a token costs (SoftHSM: tens of microseconds), so the three
// are read at once, and one at a time only when the token refuses that.
func (s *session) readCertificate(o pkcs11.ObjectHandle) (object, []byte, error) {
	attrs, err := s.c.GetAttributeValue(s.sh, o, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil),
	})
	if err == nil {
		return object{handle: o, ckaID: attrs[0].Value, label: string(attrs[1].Value)}, attrs[2].Value, nil
	}
	obj, err := s.readObject(o)
	if err != nil {
		return object{}, nil, err
	}
	der, err := s.attribute(o, pkcs11.CKA_VALUE)
	return obj, der, err
}

// remember keeps the certificates just read from token id, so that the next
// lookup by id needs one read to confirm instead of a search.
func (mod *Module) remember(id string, certs []Certificate) {
	mod.byToken.Lock()
	defer mod.byToken.Unlock()
	known := mod.certs[id]
	if known == nil {
		known = map[string]Certificate{}
		mod.certs[id] = known
	}
	for _, c := range certs {
		known[c.ID] = c
	}
}

// remembered returns the certificate last read under id from token tokenID.
func (mod *Module) remembered(tokenID, id string) (Certificate, bool) {
	mod.byToken.Lock()
	defer mod.byToken.Unlock()
	c, ok := mod.certs[tokenID][id]
	return c, ok
}

// forget drops what is remembered of token id's objects: this process has
// changed them.
func (mod *Module) forget(id string) {
	mod.byToken.Lock()
	defer mod.byToken.Unlock()
	delete(mod.certs, id)
}
