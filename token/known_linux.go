package token

var knownModules = []knownModule{
	{"OpenSC", []string{
		"/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
		"/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
		"/usr/lib64/opensc-pkcs11.so",
		"/usr/lib/opensc-pkcs11.so",
		"/usr/local/lib/opensc-pkcs11.so",
	}},
	{"SoftHSM", []string{
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
	}},
	{"Rutoken", []string{
		"/usr/lib/librtpkcs11ecp.so",
		"/usr/lib/x86_64-linux-gnu/librtpkcs11ecp.so",
		"/usr/lib64/librtpkcs11ecp.so",
		"/opt/aktivco/rutokenecp/x86_64/librtpkcs11ecp.so",
	}},
	{"JaCarta", []string{
		"/usr/lib/libjcPKCS11-2.so",
		"/usr/lib/x86_64-linux-gnu/libjcPKCS11-2.so",
		"/usr/lib64/libjcPKCS11-2.so",
	}},
	{"SafeNet eToken", []string{
		"/usr/lib/libeTPkcs11.so",
		"/usr/lib64/libeTPkcs11.so",
		"/usr/local/lib/libeTPkcs11.so",
	}},
	{"YubiKey ykcs11", []string{
		"/usr/lib/x86_64-linux-gnu/libykcs11.so",
		"/usr/lib/aarch64-linux-gnu/libykcs11.so",
		"/usr/lib64/libykcs11.so",
		"/usr/lib/libykcs11.so",
		"/usr/local/lib/libykcs11.so",
	}},
	{"Feitian ePass", []string{
		"/usr/lib/libcastle.so.1.0.0",
		"/usr/lib/libshuttle_p11v220.so",
		"/usr/lib/libepsng_p11.so",
	}},
}
