#!/usr/bin/env bash
# Installs the Debian packages that building and testing tokenagent need, and
# nothing when they are all there. Used by `make deps`, so by `make test` and
# CI, which start from a machine that has none of them.
#
# Usage: scripts/deps.sh [PACKAGE...]   (default: the list below)
set -euo pipefail

# package|why it is needed
required=(
	"softhsm2|software PKCS#11 token for tests and make demo (libsofthsm2.so, softhsm2-util)"
	"opensc|pkcs11-tool, which writes certificates to test tokens"
	"openssl|inspecting keys and certificates by hand and in scripts"
	"libpcsclite-dev|PC/SC headers for the cgo smart-card backend"
	"pcscd|PC/SC daemon that talks to smart-card readers"
	"gcc|C compiler for cgo (miekg/pkcs11, PC/SC) and go test -race"
	"libc6-dev|C library headers for cgo"
	"pkg-config|locating C libraries for cgo"
	"vsmartcard-vpcd|virtual PC/SC reader driver for pcscd, for the PC/SC watcher tests"
	"vsmartcard-vpicc|vicc, the virtual smart card those tests insert and remove"
	"python3-pycryptodome|crypto library vicc imports (as Crypto, through a shim)"
	"chromium|headless browser the JavaScript client's tests (web/) run in, through chromedp"
	"fonts-noto-cjk|CJK font, so that the Chinese self-service page renders in the test screenshots"
	"libnss3-tools|certutil, which the local TLS tests use to create NSS databases and check the CA in them"
	"nodejs|node and npm, which pack the JavaScript client's npm package and install it in its test (npm comes with this machine's nodejs)"
	"node-typescript|tsc, which type-checks a TypeScript portal against the installed package's declarations"
	"xvfb|a virtual X display for the one browser test that needs Chromium's permission question to stay open (headless Chromium answers it itself)"
	"gcc-mingw-w64-x86-64|C cross-compiler for the Windows binary in the .msi (make package)"
	"wixl|builds the Windows .msi on Linux (make package)"
	"msitools|msiinfo, which the package tests use to read the .msi's tables"
	"rpm|rpm -qpl, which the package tests use to check the .rpm"
	"libtpm2-pkcs11-1|tpm2-pkcs11, the second real PKCS#11 module the token and ws tests run on"
	"libtpm2-pkcs11-tools|tpm2_ptool, tpm2-pkcs11's store tool (the tests initialise tokens with pkcs11-tool instead)"
	"swtpm|software TPM 2.0 the tpm2-pkcs11 tests run against, on loopback TCP"
	"swtpm-tools|swtpm_setup, which makes a software TPM's state directory"
	"tpm2-tools|tpm2_dictionarylockout, which lowers the software TPM's lockout for tests"
	"libtss2-tcti-swtpm0|the TCTI by which tpm2-pkcs11 and tpm2-tools reach swtpm"
	"p11-kit-modules|p11-kit-trust.so, a real PKCS#11 module whose tokens are read-only, need no login and make no keys"
	"libengine-gost-openssl|OpenSSL's GOST engine: the GOST SoftHSM signs through it, and the GOST tests verify CSRs, signatures and CMS with it"
	"gnutls-bin|certtool --p7-verify, the GOST tests' second verifier of CMS signatures"
	"botan|botan verify, the GOST tests' second verifier of raw signatures"
	"g++|C++ compiler for the GOST SoftHSM (scripts/softhsm-gost.sh)"
	"make|runs the GOST SoftHSM's build"
	"libssl-dev|OpenSSL headers for the GOST SoftHSM's build"
	"dpkg-dev|dpkg-source, with which apt-get source unpacks Debian's softhsm2 source for the GOST SoftHSM"
	"libp11-kit-dev|pkcs11x.h, the TC26 vendor ids the GOST mechanism table is tested against"
)
if (($# > 0)); then
	required=()
	for p in "$@"; do required+=("$p|requested on the command line"); done
fi

installed() {
	[[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
	# Not Debian (macOS, say): the tools are the best check we have.
	found=0
	for tool in softhsm2-util pkcs11-tool cc pkg-config; do
		command -v "$tool" >/dev/null && found=$((found + 1))
	done
	if ((found == 4)); then
		echo "deps: no apt-get here, but the tools are on PATH; assuming the rest is installed"
		exit 0
	fi
	echo "deps: no apt-get here; install the equivalents of these Debian packages" \
		"(on macOS: brew install softhsm opensc pkg-config):" >&2
	for entry in "${required[@]}"; do printf '  %-16s %s\n' "${entry%%|*}" "${entry#*|}" >&2; done
	exit 1
fi

missing=()
for entry in "${required[@]}"; do
	pkg=${entry%%|*}
	installed "$pkg" || missing+=("$entry")
done
if ((${#missing[@]} == 0)); then
	echo "deps: all ${#required[@]} system packages present"
	exit 0
fi

echo "deps: installing ${#missing[@]} missing system package(s):"
pkgs=()
for entry in "${missing[@]}"; do
	printf '  %-16s %s\n' "${entry%%|*}" "${entry#*|}"
	pkgs+=("${entry%%|*}")
done

sudo=()
if ((EUID != 0)); then
	if ! command -v sudo >/dev/null; then
		echo "deps: not root and no sudo; as root run: apt-get install ${pkgs[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi
# env(1) carries the variable through sudo, which would drop it otherwise.
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0)
"${apt[@]}" update
"${apt[@]}" install --no-install-recommends "${pkgs[@]}"

for pkg in "${pkgs[@]}"; do
	if ! installed "$pkg"; then
		echo "deps: $pkg still not installed" >&2
		exit 1
	fi
done
echo "deps: done"
