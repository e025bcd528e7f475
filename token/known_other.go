//go:build !linux && !darwin && !windows

package token

var knownModules = []knownModule{
	{"OpenSC", []string{"/usr/local/lib/opensc-pkcs11.so", "/usr/local/lib/pkcs11/opensc-pkcs11.so"}},
	{"SoftHSM", []string{"/usr/local/lib/softhsm/libsofthsm2.so"}},
}
