package token

import (
	"encoding/hex"
	"testing"
)

// FuzzATRMatch identifies cards by any ATR. It checks that an empty ATR is
// no card; that a card identified is a direct-convention card (TS 3B, as
// every catalogue entry is) with a name, vendor and module; and that the
// catalogue matches prefixes, so more historical bytes never lose a card.
func FuzzATRMatch(f *testing.F) {
	for _, seed := range []string{
		"3b951381018073ff01000b", // vicc's iso7816 card: unknown
		"3b8b015275746f6b656e20454350a0",
		"3bdc18ff8191fe1fc38073c821136601061159000128",
		"3bd518008131fe7d8073c82110f4",
		"3be200ffc11031fe55c8029c",
		"3bff9600008131fe4380318065b0845651101201788290006a",
		"3bfd1300008131fe158073c021c057597562694b657940",
		"3b9f958131fe9f006646530510043171df000000000026",
		"3b0f00654653051605",
		"3f", "",
	} {
		atr, err := hex.DecodeString(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(atr, []byte{0x90, 0x00})
	}
	f.Fuzz(func(t *testing.T, atr, more []byte) {
		kind, ok := IdentifyCard(atr)
		if !ok {
			if kind != (CardKind{}) {
				t.Fatalf("%x: no card but %+v", atr, kind)
			}
			return
		}
		if atr[0] != 0x3b || kind.Name == "" || kind.Vendor == "" || kind.Module == "" {
			t.Fatalf("%x identified as %+v", atr, kind)
		}
		longer := append(atr[:len(atr):len(atr)], more...)
		if _, ok := IdentifyCard(longer); !ok {
			t.Fatalf("%x is %s, but %x is not identified", atr, kind.Name, longer)
		}
	})
}
