package token

var knownModules = []knownModule{
	{"OpenSC", []string{
		`C:\Program Files\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll`,
		`C:\Windows\System32\opensc-pkcs11.dll`,
	}},
	{"SoftHSM", []string{
		`C:\SoftHSM2\lib\softhsm2-x64.dll`,
		`C:\Program Files\SoftHSM2\lib\softhsm2-x64.dll`,
	}},
	{"Rutoken", []string{`C:\Windows\System32\rtPKCS11ECP.dll`}},
	{"JaCarta", []string{`C:\Windows\System32\jcPKCS11-2.dll`}},
	{"SafeNet eToken", []string{`C:\Windows\System32\eTPKCS11.dll`}},
	{"YubiKey ykcs11", []string{
		`C:\Program Files\Yubico\Yubico PIV Tool\bin\libykcs11.dll`,
		`C:\Program Files\Yubico\YubiKey Manager\libykcs11.dll`,
	}},
	{"Feitian ePass", []string{
		`C:\Windows\System32\ShuttleCsp11_3003.dll`,
		`C:\Windows\System32\eps2003csp11v2.dll`,
	}},
}
