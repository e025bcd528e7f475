package token

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/miekg/pkcs11"
)

// pkcs11x is p11-kit's header with the TC26 vendor extensions (Debian
// package libp11-kit-dev).
const pkcs11x = "/usr/include/p11-kit-1/p11-kit/pkcs11x.h"

// TestGOSTMechanismIDs checks the table against miekg/pkcs11's standard
// constants and the TC26 vendor identifiers as pkcs11x.h defines them.
func TestGOSTMechanismIDs(t *testing.T) {
	header, err := os.ReadFile(pkcs11x)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set, so this is not skipped)", err)
		}
		t.Skipf("%v (Debian package libp11-kit-dev)", err)
	}
	base := regexp.MustCompile(`#define NSSCK_VENDOR_PKCS11_RU_TEAM (0x[0-9A-Fa-f]+)`).FindSubmatch(header)
	if base == nil {
		t.Fatalf("no TC26 vendor base in %s", pkcs11x)
	}
	vendor, err := strconv.ParseUint(string(base[1]), 0, 32)
	if err != nil || vendor != tc26Vendor {
		t.Fatalf("TC26 vendor base %s in %s, table has %#x", base[1], pkcs11x, tc26Vendor)
	}
	defined := map[string]uint{}
	for _, m := range regexp.MustCompile(`#define (CKM_\w+) \(CK_VENDOR_PKCS11_RU_TEAM_TC26 \|(0x[0-9A-Fa-f]+)\)`).FindAllSubmatch(header, -1) {
		v, err := strconv.ParseUint(string(m[2]), 0, 32)
		if err != nil {
			t.Fatal(err)
		}
		defined[string(m[1])] = uint(vendor | v)
	}
	for _, tt := range []struct {
		bits          int
		field, name   string
		got, standard uint
		headerName    string
	}{
		{256, "keyPairGen", "CKM_GOSTR3410_KEY_PAIR_GEN", gostMechs[256].keyPairGen, pkcs11.CKM_GOSTR3410_KEY_PAIR_GEN, ""},
		{256, "sign", "CKM_GOSTR3410", gostMechs[256].sign, pkcs11.CKM_GOSTR3410, ""},
		{256, "signData", "", gostMechs[256].signData, 0, "CKM_GOSTR3410_WITH_GOSTR3411_2012_256"},
		{256, "digest", "", gostMechs[256].digest, 0, "CKM_GOSTR3411_2012_256"},
		{512, "keyPairGen", "", gostMechs[512].keyPairGen, 0, "CKM_GOSTR3410_512_KEY_PAIR_GEN"},
		{512, "sign", "", gostMechs[512].sign, 0, "CKM_GOSTR3410_512"},
		{512, "signData", "", gostMechs[512].signData, 0, "CKM_GOSTR3410_WITH_GOSTR3411_2012_512"},
		{512, "digest", "", gostMechs[512].digest, 0, "CKM_GOSTR3411_2012_512"},
	} {
		want, from := tt.standard, "miekg/pkcs11 "+tt.name
		if tt.headerName != "" {
			var ok bool
			if want, ok = defined[tt.headerName]; !ok {
				t.Errorf("%s is not in %s", tt.headerName, pkcs11x)
				continue
			}
			from = "pkcs11x.h " + tt.headerName
		}
		if tt.got != want {
			t.Errorf("gostMechs[%d].%s = %#x, %s = %#x", tt.bits, tt.field, tt.got, from, want)
		}
	}
	// The GOST R 34.11-94 hash-and-sign mechanism must never be the one used.
	for bits, ids := range gostMechs {
		if ids.signData == pkcs11.CKM_GOSTR3410_WITH_GOSTR3411 {
			t.Errorf("%d-bit keys would hash with GOST R 34.11-94", bits)
		}
	}
}
