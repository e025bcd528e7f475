#!/bin/sh
# Builds OUTDIR/libp11shim.so, the fault-injecting PKCS#11 module (README.md).
# The PKCS#11 headers come from the miekg/pkcs11 module, downloaded if need be.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
src=$(cd "$(dirname "$0")" && pwd)
out=$1
# The PKCS#11 headers are miekg/pkcs11's, at the version go.mod names:
# download it first, so that this works with an empty module cache.
inc=$(cd "$src/../.." && go mod download github.com/miekg/pkcs11 && go list -m -f '{{.Dir}}' github.com/miekg/pkcs11)
if [ -z "$inc" ] || [ ! -f "$inc/pkcs11.h" ]; then
	echo "$0: go mod download github.com/miekg/pkcs11 gave no pkcs11.h (dir '$inc')" >&2
	exit 1
fi
mkdir -p "$out"
${CC:-cc} -shared -fPIC -O2 -Wall -Wextra -Werror -I"$inc" \
	-o "$out/libp11shim.so" "$src/p11shim.c" -ldl -lpthread
