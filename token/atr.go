package token

import (
	"encoding/hex"
	"os"
	"regexp"
)

// CardKind is what the built-in catalogue knows of a card from its ATR: who
// makes it and which PKCS#11 module speaks to it.
type CardKind struct {
	Name   string // e.g. "Aktiv Rutoken ECP"
	Vendor string // the vendor's entry among the known modules, e.g. "Rutoken"
	Module string // the module's file name, e.g. "librtpkcs11ecp.so"
}

// cardPattern matches the lowercase hex ATRs of one kind of card.
type cardPattern struct {
	atr  *regexp.Regexp
	kind CardKind
}

// cardCatalogue maps ATR patterns to card kinds, first match wins. The ATRs
// come from pcsc-tools' smartcard_list.txt; patterns match the historical
// bytes that name the product where a vendor puts its name there.
var cardCatalogue = []cardPattern{
	// "Rutoken" or "RtSC"/"RtMC" in the historical bytes: Rutoken ECP,
	// ECP 2.0/3.0, ECP SC, Lite (3b8b015275746f6b656e204543 50a0, …).
	{regexp.MustCompile(`^3b.*(5275746f6b656e|52745343|52744d43)`),
		CardKind{Name: "Aktiv Rutoken ECP", Vendor: "Rutoken", Module: "librtpkcs11ecp.so"}},
	// Aladdin R.D. JaCarta (3bdc18ff8191fe1fc38073c821136601061159000128).
	{regexp.MustCompile(`^3bdc18ff81[19]1fe(1fc3)?8073c821136601`),
		CardKind{Name: "Aladdin JaCarta", Vendor: "JaCarta", Module: "libjcPKCS11-2.so"}},
	// SafeNet eToken PRO Java / 5110 (3bd518008131[3f][ae]7d8073c82110..)
	// and the older eToken PRO USB (3be200ffc11031fe55c8029c).
	{regexp.MustCompile(`^(3bd518008131(3a|fe)7d8073c82110|3be200ffc11031fe55c802)`),
		CardKind{Name: "SafeNet eToken PRO/5110", Vendor: "SafeNet eToken", Module: "libeTPkcs11.so"}},
	// SafeNet eToken 5110 CC / 5300, IDPrime based
	// (3bff9600008131fe4380318065b0845651101201788290006a).
	{regexp.MustCompile(`^3bff9600008131fe4380318065b084`),
		CardKind{Name: "SafeNet eToken 5110 CC/5300", Vendor: "SafeNet eToken", Module: "libeTPkcs11.so"}},
	// "Yubikey"/"YubiKey" in the historical bytes: YubiKey 4, 5, NEO (PIV).
	{regexp.MustCompile(`^3b.*59756269(6b|4b)6579`),
		CardKind{Name: "YubiKey PIV", Vendor: "YubiKey ykcs11", Module: "libykcs11.so"}},
	// Feitian ePass2003 (3b9f958131fe9f006646530510...) and ePass3000
	// (3b0f006546530516 0571df...).
	{regexp.MustCompile(`^(3b9f958131fe9f0066465305|3b0f0065465305)`),
		CardKind{Name: "Feitian ePass", Vendor: "Feitian ePass", Module: "libcastle.so.1.0.0"}},
}

// IdentifyCard returns what the built-in catalogue knows of the card with
// this ATR.
func IdentifyCard(atr []byte) (CardKind, bool) {
	if len(atr) == 0 {
		return CardKind{}, false
	}
	h := hex.EncodeToString(atr)
	for _, p := range cardCatalogue {
		if p.atr.MatchString(h) {
			return p.kind, true
		}
	}
	return CardKind{}, false
}

// KnownModulePath returns where the known module of vendor (a CardKind's
// Vendor) is installed on this system, if it is.
func KnownModulePath(vendor string) (string, bool) {
	for _, k := range knownModules {
		if k.vendor != vendor {
			continue
		}
		for _, p := range k.paths {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, true
			}
		}
	}
	return "", false
}
