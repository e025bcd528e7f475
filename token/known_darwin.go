package token

var knownModules = []knownModule{
	{"OpenSC", []string{
		"/Library/OpenSC/lib/opensc-pkcs11.so",
		"/opt/homebrew/lib/opensc-pkcs11.so",
		"/usr/local/lib/opensc-pkcs11.so",
	}},
	{"SoftHSM", []string{
		"/opt/homebrew/lib/softhsm/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
	}},
	{"Rutoken", []string{
		"/Library/Frameworks/rtpkcs11ecp.framework/rtpkcs11ecp",
		"/usr/local/lib/librtpkcs11ecp.dylib",
	}},
	{"JaCarta", []string{
		"/Library/Frameworks/jcPKCS11-2.framework/jcPKCS11-2",
		"/usr/local/lib/libjcPKCS11-2.dylib",
	}},
	{"SafeNet eToken", []string{
		"/usr/local/lib/libeTPkcs11.dylib",
		"/Library/Frameworks/eToken.framework/Versions/Current/libeToken.dylib",
	}},
	{"YubiKey ykcs11", []string{
		"/opt/homebrew/lib/libykcs11.dylib",
		"/usr/local/lib/libykcs11.dylib",
	}},
	{"Feitian ePass", []string{
		"/usr/local/lib/libcastle.1.0.0.dylib",
		"/usr/local/lib/libepsng_p11.dylib",
	}},
}
