package ws

import (
	"os"
	"path/filepath"
	"testing"
)

// p11KitTrust returns the path of p11-kit's trust module, whose token (the
// system's trust anchors) is read-only, needs no login and has no
// mechanisms at all; the test is skipped when it is missing, except under
// CI.
func p11KitTrust(t *testing.T) string {
	t.Helper()
	for _, pattern := range []string{"/usr/lib/*-linux-gnu/pkcs11/p11-kit-trust.so", "/usr/lib64/pkcs11/p11-kit-trust.so", "/usr/lib/pkcs11/p11-kit-trust.so"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("p11-kit-trust.so not found (package p11-kit-modules; CI is set, so this is not skipped)")
	}
	t.Skip("p11-kit-trust.so not found (package p11-kit-modules)")
	return ""
}

// TestModuleP11KitTrust uses a real module that nobody here wrote whose
// token is read-only, needs no login and makes no keys: each refusal
// comes from what the token says of itself, before any login.
func TestModuleP11KitTrust(t *testing.T) {
	r := newModuleRig(t, p11KitTrust(t))
	tok := r.tokens["System Trust"]
	if tok == "" {
		t.Fatalf("tokens %v: want the system trust anchors", r.tokens)
	}
	entry := r.listTokens()[0].(map[string]any)
	if pin := entry["pin"].(map[string]any); entry["readOnly"] != true || pin["loginRequired"] != false {
		t.Errorf("System Trust: readOnly %v, pin %v; want read-only, no login", entry["readOnly"], pin)
	}
	certs := r.c.result("certs.list", map[string]any{"token": tok})["certificates"].([]any)
	if len(certs) == 0 {
		t.Fatal("no certificate among the system's trust anchors")
	}
	anchor, der := certs[0].(map[string]any)["id"], certs[0].(map[string]any)["der"]
	noLogin := func(what string) {
		t.Helper()
		if n := r.shim.Called(t, "C_Login"); n != 0 {
			t.Errorf("%s: %d logins", what, n)
		}
	}
	p := func(extra map[string]any) map[string]any {
		return merge(map[string]any{"token": tok, "pin": modUserPIN}, extra)
	}
	r.shim.ClearCalls(t)
	wantError(t, r.c.call("keys.generate", p(map[string]any{"algorithm": "EC-P256"})), 1021, "TOKEN_READ_ONLY")
	wantError(t, r.c.call("certs.import", p(map[string]any{"certificate": der})), 1021, "TOKEN_READ_ONLY")
	wantError(t, r.c.call("objects.delete", p(map[string]any{"id": anchor, "what": "certificate"})), 1021, "TOKEN_READ_ONLY")
	wantError(t, r.c.call("pin.change", map[string]any{"token": tok, "oldPin": modUserPIN, "newPin": modNewPIN}), 1021, "TOKEN_READ_ONLY")
	// Reading needs no login: a CA certificate has no key here.
	wantError(t, r.c.call("sign", p(map[string]any{"cert": anchor, "data": "eA=="})), 1002, "OBJECT_NOT_FOUND")
	noLogin("refusals on a read-only token that needs no login")

	// Were it writable, it still makes no keys: it has no mechanisms.
	r.shim.Set(t, "token_flags_clear = CKF_WRITE_PROTECTED")
	r.shim.ClearCalls(t)
	wantError(t, r.c.call("keys.generate", p(map[string]any{"algorithm": "EC-P256"})), 1020, "MECHANISM_UNSUPPORTED")
	noLogin("a key generation on a module without mechanisms")
}
