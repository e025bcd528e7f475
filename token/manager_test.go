package token_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a SoftHSM environment with two tokens: "alice" with two
// certificates sharing one CKA_ID plus one of its own, and "bob" with none.
type fixture struct {
	env   *softhsm.Env
	certs map[string][]byte // label → DER
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := softhsm.New(t)
	for _, label := range []string{"alice", "bob"} {
		if err := env.InitToken(label, "12345678", "1234"); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := softhsm.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{env: env, certs: map[string][]byte{}}
	now := time.Now().Truncate(time.Second)
	for _, spec := range []softhsm.CertSpec{
		{KeyAlgorithm: "RSA-2048", ID: []byte{0x01, 0xa2}, Label: "alice-sign", Subject: pkix.Name{CommonName: "Alice", Organization: []string{"Example"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)},
		{KeyAlgorithm: "EC-P256", ID: []byte{0x02}, Label: "alice-auth", NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, 10)},
	} {
		cert, _, err := env.AddKeyAndCert("alice", "1234", ca, spec)
		if err != nil {
			t.Fatal(err)
		}
		f.certs[spec.Label] = cert.Raw
	}
	// A second certificate under the first one's CKA_ID, as after a renewal
	// that kept the key.
	renewed, err := ca.Issue(mustParse(t, f.certs["alice-sign"]).PublicKey, pkix.Name{CommonName: "Alice renewed"}, now, now.AddDate(2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.ImportCertificate("alice", "1234", []byte{0x01, 0xa2}, "alice-renewed", renewed.Raw); err != nil {
		t.Fatal(err)
	}
	f.certs["alice-renewed"] = renewed.Raw
	return f
}

func newManager(t *testing.T, paths ...string) *token.Manager {
	t.Helper()
	m := token.NewManager(paths, quiet)
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("closing manager: %v", err)
		}
	})
	return m
}

func tokensByLabel(t *testing.T, m *token.Manager) map[string]token.TokenInfo {
	t.Helper()
	list, err := m.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byLabel := map[string]token.TokenInfo{}
	for _, ti := range list {
		byLabel[ti.Label] = ti
	}
	return byLabel
}

func TestTokensAndCertificates(t *testing.T) {
	f := newFixture(t)
	m := newManager(t, f.env.Module)
	tokens := tokensByLabel(t, m)
	if len(tokens) != 2 {
		t.Fatalf("tokens = %v, want alice and bob (the free slot left out)", tokens)
	}
	alice := tokens["alice"]
	if alice.Manufacturer != "SoftHSM project" || alice.Model != "SoftHSM v2" || alice.Serial == "" || alice.Module != f.env.Module {
		t.Errorf("alice = %+v", alice)
	}
	want := token.PINState{Initialized: true, LoginRequired: true, MinLen: 4, MaxLen: 255}
	if alice.PIN != want || alice.ReadOnly {
		t.Errorf("alice PIN = %+v, readOnly %v; want %+v, false", alice.PIN, alice.ReadOnly, want)
	}
	if alice.ID != token.TokenID(f.env.Module, alice.Manufacturer, alice.Model, alice.Serial) {
		t.Errorf("alice id %s is not derived from module, manufacturer, model and serial", alice.ID)
	}

	certs, err := m.Certificates(context.Background(), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{} // id → label
	for _, c := range certs {
		got[c.ID] = c.Label
		if string(c.Cert.Raw) != string(f.certs[c.Label]) {
			t.Errorf("certificate %s (%s) differs from the one stored", c.ID, c.Label)
		}
	}
	if len(certs) != 3 || got["02"] != "alice-auth" || got["01a2"] == "" || got["01a2~1"] == "" || got["01a2"] == got["01a2~1"] {
		t.Errorf("certificate ids = %v, want 01a2, 01a2~1 and 02", got)
	}
	// Ids must not depend on the order the module returns objects in.
	again, err := m.Certificates(context.Background(), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i].ID != certs[i].ID || again[i].Label != certs[i].Label {
			t.Errorf("second listing differs at %d: %s/%s vs %s/%s", i, again[i].ID, again[i].Label, certs[i].ID, certs[i].Label)
		}
	}

	bobCerts, err := m.Certificates(context.Background(), tokens["bob"].ID)
	if err != nil || len(bobCerts) != 0 {
		t.Errorf("bob's certificates = %v, %v; want none", bobCerts, err)
	}
}

func TestTokenIDsSurviveRestart(t *testing.T) {
	f := newFixture(t)
	// The first manager finalises the module when closed, so the second
	// one initialises it afresh, as an agent restart would.
	m := token.NewManager([]string{f.env.Module}, quiet)
	first := tokensByLabel(t, m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	second := tokensByLabel(t, newManager(t, f.env.Module))
	for label, ti := range first {
		if second[label].ID != ti.ID {
			t.Errorf("%s: id %s then %s", label, ti.ID, second[label].ID)
		}
	}
}

func TestUnknownToken(t *testing.T) {
	f := newFixture(t)
	m := newManager(t, f.env.Module)
	_, err := m.Certificates(context.Background(), "00000000000000000000000000000000")
	if !errors.Is(err, token.ErrTokenNotFound) {
		t.Errorf("err = %v, want ErrTokenNotFound", err)
	}
}

func TestBrokenModulesAreReported(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	notLibrary := filepath.Join(dir, "not-a-library.so")
	if err := os.WriteFile(notLibrary, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "softhsm-link.so")
	if err := os.Symlink(f.env.Module, link); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, filepath.Join(dir, "missing.so"), notLibrary, f.env.Module, link)

	statuses := m.Modules()
	if len(statuses) != 3 {
		t.Fatalf("modules = %+v, want missing, not-a-library and SoftHSM once", statuses)
	}
	for i, want := range []string{"no such file", "not a loadable PKCS#11 library", ""} {
		st := statuses[i]
		switch {
		case want == "" && st.Err != nil:
			t.Errorf("%s: unexpected error %v", st.Path, st.Err)
		case want == "" && st.Info.Manufacturer != "SoftHSM":
			t.Errorf("%s: info %+v", st.Path, st.Info)
		case want != "" && (st.Err == nil || !strings.Contains(st.Err.Error(), want)):
			t.Errorf("%s: error %v, want one saying %q", st.Path, st.Err, want)
		}
	}
	if tokens := tokensByLabel(t, m); len(tokens) != 2 {
		t.Errorf("tokens = %v: the working module's tokens must be listed once", tokens)
	}
}

func TestClosedManager(t *testing.T) {
	f := newFixture(t)
	m := token.NewManager([]string{f.env.Module}, quiet)
	id := tokensByLabel(t, m)["alice"].ID
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Tokens(context.Background()); !errors.Is(err, token.ErrClosed) {
		t.Errorf("Tokens after Close: %v, want ErrClosed", err)
	}
	if _, err := m.Certificates(context.Background(), id); !errors.Is(err, token.ErrClosed) {
		t.Errorf("Certificates after Close: %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSharedModuleOutlivesOneUser(t *testing.T) {
	f := newFixture(t)
	a := token.NewManager([]string{f.env.Module}, quiet)
	b := newManager(t, f.env.Module)
	id := tokensByLabel(t, b)["alice"].ID
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Certificates(context.Background(), id); err != nil {
		t.Errorf("after another user closed the module: %v", err)
	}
}

func TestWaitingForATokenHonoursTheContext(t *testing.T) {
	f := newFixture(t)
	m := newManager(t, f.env.Module)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Certificates(ctx, tokensByLabel(t, m)["alice"].ID)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
