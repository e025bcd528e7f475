#!/bin/sh
# Checks p11shim against real SoftHSM tokens, through OpenSC's pkcs11-tool and
# through p11drive (many signatures per process, several threads).
# Needs cc, go (for the header path), softhsm2-util, pkcs11-tool and GNU date;
# runs valgrind too when installed.  Exits non-zero if any check fails.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

"$here/build.sh" "$work"
cc -O2 -Wall -Wextra -Werror \
	-I"$(go env GOMODCACHE)/github.com/miekg/pkcs11@v1.1.2" \
	-o "$work/p11drive" "$here/p11drive.c" -ldl -lpthread
shim=$work/libp11shim.so

mkdir "$work/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' \
	"$work" >"$work/softhsm2.conf"
export SOFTHSM2_CONF="$work/softhsm2.conf"
for label in a b; do
	softhsm2-util --init-token --free --label $label --pin 1234 \
		--so-pin 5678 >/dev/null
done
export P11SHIM_CONTROL="$work/control" P11SHIM_LOG="$work/calls.log"
head -c 32 /dev/zero >"$work/data"

failures=0

# control LINE...: installs a control file atomically, as tests should.
control() {
	printf '%s\n' "$@" >"$work/control.new"
	mv "$work/control.new" "$work/control"
}

# Helpers for expect's conditions; command output goes to $work/out.
p11() { pkcs11-tool --module "$shim" "$@" >"$work/out" 2>&1; }
drive() { "$work/p11drive" "$shim" "$@" >"$work/out" 2>&1; }
has() { grep -q -- "$1" "$work/out"; }
calls() { grep -c "^$1\$" "$work/calls.log" || true; }
# token flags per label, e.g. "a: login required, rng, ..."
flags() { awk -F' *: ' '/token label/ {l = $2} /token flags/ {print l ": " $2}' "$work/out"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# expect NAME CONDITION: CONDITION is shell code; its output is shown on failure.
expect() {
	if eval "$2"; then
		echo "ok   $1"
	else
		echo "FAIL $1"
		sed 's/^/     | /' "$work/out"
		failures=$((failures + 1))
	fi
}

echo "== pass-through"
control ''
expect "-L lists both tokens" \
	'p11 -L && has "token label *: a" && has "token label *: b"'
slot_a=$(sed -n 's/^Slot [0-9]* (\(0x[0-9a-f]*\)).*/\1/p' "$work/out" | head -n 1)
expect "-T lists both tokens" 'p11 -T && has "token label *: b"'
for label in a b; do
	expect "key generation on $label" \
		'p11 --token-label $label --login --pin 1234 --keypairgen --key-type EC:prime256v1 --id 01 --label k'
done
expect "-O after login shows the key" \
	'p11 --token-label a --login --pin 1234 -O && has "Private Key Object"'
expect "ECDSA signing" \
	'p11 --token-label a --login --pin 1234 --sign -m ECDSA --id 01 -i "$work/data" -o "$work/sig" && [ "$(wc -c <"$work/sig")" -eq 64 ]'
rm "$work/control"
expect "a missing control file passes through" 'p11 -T && has "token label *: a"'

echo "== token flags"
control 'token_flags_set = CKF_USER_PIN_LOCKED|CKF_USER_PIN_FINAL_TRY' \
	'token_flags_clear = CKF_LOGIN_REQUIRED'
expect "set and cleared by name" \
	'p11 -T && flags | grep -q "^a: rng.*final user PIN try.*user PIN locked"'
control 'token_flags_set = 0x2 | CKF_SO_PIN_COUNT_LOW'
expect "set by number" 'p11 -T && flags | grep -q "^a: .*SO PIN count low.*readonly"'
control 'slot_label = a' 'token_flags_set = CKF_USER_PIN_LOCKED'
expect "slot_label: only token a shows the flag" \
	'p11 -T && flags | grep -q "^a: .*user PIN locked" && ! flags | grep -q "^b: .*locked"'

echo "== C_Login"
control 'fail = C_Login:USER CKR_PIN_LOCKED'
expect "C_Login:USER fails user login" \
	'! p11 --token-label a --login --pin 1234 -O && has "C_Login failed: rv = CKR_PIN_LOCKED"'
control 'fail = C_Login:SO CKR_PIN_LOCKED'
expect "C_Login:SO leaves user login alone" \
	'p11 --token-label a --login --pin 1234 -O && has "Private Key Object"'
expect "C_Login:SO fails SO login" \
	'! p11 --token-label a --session-rw --login --login-type so --so-pin 5678 -O && has "CKR_PIN_LOCKED"'
control 'slot_label = a' 'fail = C_Login 0xa0'
expect "slot_label: token a refuses login (hex CKR)" \
	'! p11 --token-label a --login --pin 1234 -O && has "CKR_PIN_INCORRECT"'
expect "slot_label: token b keeps working" \
	'p11 --token-label b --login --pin 1234 -O'

echo "== removed"
control 'removed = 1'
expect "-T lists no token" '! p11 -T && ! has "token label"'
expect "-L still lists the slots, empty" 'p11 -L && has "(empty)" && ! has "token label"'
expect "sessions fail with CKR_DEVICE_REMOVED" \
	'! p11 --slot "$slot_a" -O && has "C_OpenSession failed: rv = CKR_DEVICE_REMOVED"'
control 'removed = 1' 'slot_label = a'
expect "slot_label: -T lists b only" \
	'p11 -T && has "token label *: b" && ! has "token label *: a"'
expect "slot_label: b still signs" \
	'drive b 1234 2 && [ "$(tr "\n" " " <"$work/out")" = "0x0 0x0 " ]'

echo "== C_Sign"
control 'fail = C_Sign CKR_DEVICE_REMOVED'
: >"$work/calls.log"
# pkcs11-tool retries a failed C_Sign as a multi-part operation, whose
# C_SignInit then meets the real operation left active (see README.md).
expect "fail = C_Sign fails pkcs11-tool's signing" \
	'! p11 --token-label a --login --pin 1234 --sign -m ECDSA --id 01 -i "$work/data" -o "$work/sig" && [ "$(calls C_Sign)" -eq 1 ]'
expect "fail = C_Sign fails every signature" \
	'drive a 1234 2 && [ "$(tr "\n" " " <"$work/out")" = "0x32 0x32 " ]'
control 'fail = C_Sign CKR_DEVICE_REMOVED after=1'
expect "after=1 lets the first signature through" \
	'p11 --token-label a --login --pin 1234 --sign -m ECDSA --id 01 -i "$work/data" -o "$work/sig"'
expect "after=1 fails the rest of a batch" \
	'drive a 1234 3 && [ "$(tr "\n" " " <"$work/out")" = "0x0 0x32 0x32 " ]'
control 'fail = C_Sign CKR_DEVICE_ERROR after=1 times=1'
expect "after=1 times=1 fails once" \
	'drive a 1234 3 && [ "$(tr "\n" " " <"$work/out")" = "0x0 0x30 0x0 " ]'
control 'fail = C_Sign CKR_DEVICE_ERROR after=10 times=20' 'delay = C_Sign 1'
: >"$work/calls.log"
expect "counters are exact under 4 threads" \
	'drive a 1234 50 4 && [ "$(grep -c "^0x30$" "$work/out")" -eq 20 ] && [ "$(calls C_Sign)" -eq 200 ]'
control 'delay = C_Sign 1000'
start=$(now_ms)
expect "delay = C_Sign 1000" \
	'p11 --token-label a --login --pin 1234 --sign -m ECDSA --id 01 -i "$work/data" -o "$work/sig" && [ $(($(now_ms) - start)) -ge 1000 ]'

echo "== mechanisms_hide"
control 'mechanisms_hide = CKM_EC_KEY_PAIR_GEN | CKM_RSA_PKCS_PSS'
expect "-M leaves the hidden mechanisms out" \
	'p11 --token-label a -M && has "^  ECDSA," && ! has "ECDSA-KEY-PAIR-GEN" && ! has "^  RSA-PKCS-PSS," && has "RSA-PKCS-KEY-PAIR-GEN"'
# pkcs11-tool reads the list and gives up before C_GenerateKeyPair.
expect "a hidden mechanism generates no key" \
	'! p11 --token-label a --login --pin 1234 --keypairgen --key-type EC:prime256v1 --id 02 --label k2 && has "mechanism 1040 not supported"'
control 'slot_label = a' 'mechanisms_hide = CKM_EC_KEY_PAIR_GEN'
expect "slot_label: token b still generates" \
	'p11 --token-label b --login --pin 1234 --keypairgen --key-type EC:prime256v1 --id 03 --label k3'

echo "== pinpad"
control 'pinpad = 1234'
expect "a PIN from the caller is refused" \
	'! p11 --token-label a --login --pin 1234 -O && has "CKR_ARGUMENTS_BAD"'
expect "a login without a PIN gets the pad's" \
	'drive a "" 1 && [ "$(tr "\n" " " <"$work/out")" = "0x0 " ]'

echo "== C_Initialize"
control 'fail = C_Initialize CKR_GENERAL_ERROR'
: >"$work/calls.log"
expect "C_Initialize fails" \
	'! p11 -L && has "C_Initialize failed: rv = CKR_GENERAL_ERROR" && [ "$(calls C_GetSlotList)" -eq 0 ]'

echo "== call log"
control ''
: >"$work/calls.log"
expect "-L makes no C_Login" \
	'p11 -L && [ "$(calls C_GetSlotList)" -gt 0 ] && [ "$(calls C_Login)" -eq 0 ]'
control 'fail = C_Login CKR_PIN_LOCKED'
expect "a refused C_Login is logged once" \
	'! p11 --token-label a --login --pin 1234 -O && [ "$(calls C_Login)" -eq 1 ]'

echo "== bad control file"
control 'fail = C_Nope CKR_DEVICE_ERROR'
expect "every call fails, the line is reported" \
	'! p11 -L && has "p11shim: .*:1: unknown function"'

if command -v valgrind >/dev/null; then
	echo "== valgrind"
	vg() { valgrind -q --error-exitcode=1 "$@" >"$work/out" 2>&1; }
	control ''
	expect "pkcs11-tool -L" 'vg pkcs11-tool --module "$shim" -L'
	control 'removed = 1' 'slot_label = a' 'token_flags_set = CKF_SO_PIN_LOCKED' \
		'fail = C_GetMechanismInfo CKR_DEVICE_ERROR after=2 times=3'
	expect "pkcs11-tool -T with faults" 'vg pkcs11-tool --module "$shim" -T'
	control 'fail = C_Sign CKR_DEVICE_ERROR after=2 times=2'
	expect "p11drive, 3 threads" 'vg "$work/p11drive" "$shim" a 1234 4 3'
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all checks passed"
