#!/bin/sh
# Builds OUTDIR/libp11shim.so, the fault-injecting PKCS#11 module (README.md).
# The PKCS#11 headers come from the miekg/pkcs11 module in the Go module cache.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
src=$(cd "$(dirname "$0")" && pwd)
out=$1
inc="$(go env GOMODCACHE)/github.com/miekg/pkcs11@v1.1.2"
if [ ! -f "$inc/pkcs11.h" ]; then
	echo "$0: $inc/pkcs11.h not found; run 'go mod download github.com/miekg/pkcs11'" >&2
	exit 1
fi
mkdir -p "$out"
${CC:-cc} -shared -fPIC -O2 -Wall -Wextra -Werror -I"$inc" \
	-o "$out/libp11shim.so" "$src/p11shim.c" -ldl -lpthread
