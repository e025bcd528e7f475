package token

import (
	"encoding/hex"
	"runtime"
	"strings"
	"testing"
)

func TestIdentifyCard(t *testing.T) {
	tests := []struct {
		atr    string // as smartcard_list.txt writes it
		vendor string // "" for no match
	}{
		{"3B 8B 01 52 75 74 6F 6B 65 6E 20 45 43 50 A0", "Rutoken"},    // Aktiv Rutoken ECP
		{"3B 9C 96 00 52 75 74 6F 6B 65 6E 45 43 50 73 63", "Rutoken"}, // Rutoken ECP SC T0
		{"3B 88 80 01 52 74 53 43 77 81 83 20 6A", "Rutoken"},          // Rutoken ECP 3.0 NFC
		{"3B DC 18 FF 81 91 FE 1F C3 80 73 C8 21 13 66 01 06 11 59 00 01 28", "JaCarta"},
		{"3B DC 18 FF 81 11 FE 80 73 C8 21 13 66 01 06 01 30 80 01 8D", "JaCarta"}, // JaCarta LT
		{"3B D5 18 00 81 31 3A 7D 80 73 C8 21 10 30", "SafeNet eToken"},            // eToken PRO 72K
		{"3B D5 18 00 81 31 FE 7D 80 73 C8 21 10 F4", "SafeNet eToken"},            // eToken Java
		{"3B E2 00 FF C1 10 31 FE 55 C8 02 9C", "SafeNet eToken"},                  // eToken PRO USB
		{"3B FF 96 00 00 81 31 FE 43 80 31 80 65 B0 84 56 51 10 12 01 78 82 90 00 6A", "SafeNet eToken"},
		{"3B F8 13 00 00 81 31 FE 15 59 75 62 69 6B 65 79 34 D4", "YubiKey ykcs11"},                // YubiKey 4
		{"3B FD 13 00 00 81 31 FE 15 80 73 C0 21 C0 57 59 75 62 69 4B 65 79 40", "YubiKey ykcs11"}, // YubiKey 5 NFC
		{"3B 9F 95 81 31 FE 9F 00 66 46 53 05 10 04 31 71 DF 00 00 00 00 00 26", "Feitian ePass"},  // ePass2003
		{"3B 0F 00 65 46 53 05 16 05 71 DF 00 00 00 45 50 53", "Feitian ePass"},                    // ePass3000
		{"3B 95 13 81 01 80 73 FF 01 00 0B", ""},                                                   // vicc's iso7816 card
		{"3B 7F 96 00 00 80 31 80 65 B0 85 03 00 EF 12 0F FE 82 90 00", ""},                        // Gemalto IDPrime MD 840
		{"", ""},
	}
	for _, tt := range tests {
		atr, err := hex.DecodeString(strings.ReplaceAll(tt.atr, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		kind, ok := IdentifyCard(atr)
		if ok != (tt.vendor != "") || kind.Vendor != tt.vendor {
			t.Errorf("IdentifyCard(%s) = %+v, %v; want vendor %q", tt.atr, kind, ok, tt.vendor)
		}
		if ok && (kind.Name == "" || kind.Module == "") {
			t.Errorf("IdentifyCard(%s) = %+v: name or module empty", tt.atr, kind)
		}
	}
}

// TestCardCatalogueVendors checks that every catalogue entry names a vendor
// of the known modules, so KnownModulePath can find its module.
func TestCardCatalogueVendors(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the known modules of other platforms name fewer vendors")
	}
	vendors := map[string]bool{}
	for _, k := range knownModules {
		vendors[k.vendor] = true
	}
	for _, p := range cardCatalogue {
		if !vendors[p.kind.Vendor] {
			t.Errorf("catalogue entry %q: vendor %q has no known module", p.kind.Name, p.kind.Vendor)
		}
	}
}
