#!/usr/bin/env bash
# Builds SoftHSM with GOST R 34.10-2012 support into OUTDIR (default
# build/softhsm-gost): OUTDIR/lib/softhsm/libsofthsm2.so and
# OUTDIR/bin/softhsm2-util. Debian's own softhsm2 is built without GOST, so the
# GOST tests use this second module beside the stock one.
#
# The source is Debian's (apt-get source softhsm2). No archive host is written
# here: the deb-src entries are derived when the script runs from the machine's
# own apt sources (the same URIs, suites and keyrings, Types: deb-src), in a
# scratch apt configuration under OUTDIR, so the machine's apt setup is left
# as it was. The module is configured with --enable-gost against OpenSSL; at
# run time it loads Debian's GOST engine (libengine-gost-openssl).
#
# Run by make softhsm-gost (so by make test) and by the GOST tests' setup
# (internal/softhsm.GOSTBuild) when the module is missing; a lock makes
# concurrent runs build once. When the source cannot be fetched or the build
# fails, the reason is written to OUTDIR/FAILED and the script exits 0, so
# that the tests skip with it, unless CI is set: then it exits 1.
#
# Usage: scripts/softhsm-gost.sh [OUTDIR]
set -euo pipefail

out=$(mkdir -p "${1:-build/softhsm-gost}" && cd "${1:-build/softhsm-gost}" && pwd)
module=$out/lib/softhsm/libsofthsm2.so
util=$out/bin/softhsm2-util

exec 9>"$out/.lock"
flock 9
if [[ -x $util && -f $module ]]; then
	exit 0
fi
rm -f "$out/FAILED"

fail() {
	echo "softhsm-gost: $*" >&2
	echo "$*" >"$out/FAILED"
	if [[ -n ${CI:-} ]]; then
		exit 1
	fi
	echo "softhsm-gost: the GOST tests will skip (CI is not set)" >&2
	exit 0
}

for tool in apt-get dpkg-source make c++; do
	command -v "$tool" >/dev/null || fail "$tool not found (run scripts/deps.sh)"
done

apt=$out/apt
rm -rf "$apt" "$out/src"
mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial" "$out/src"

# Every deb entry of the machine's apt sources becomes a deb-src entry: the
# one-line format (sources.list, *.list) and deb822 (*.sources), enabled
# files only.
shopt -s nullglob
: >"$apt/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[[ -f $f ]] || continue
	sed -nE 's/^[[:space:]]*deb([[:space:]])/deb-src\1/p' "$f" >>"$apt/sources.list"
done
n=0
for f in /etc/apt/sources.list.d/*.sources; do
	n=$((n + 1))
	# Stanzas are separated by blank lines; keep those whose Types has deb.
	awk '
		function flush() {
			if (keep && stanza != "") printf "%s\n", stanza
			stanza = ""; keep = 0
		}
		/^[[:space:]]*$/ { flush(); next }
		/^#/ { next }
		/^Types:/ {
			keep = ($0 ~ /[[:space:]]deb([[:space:]]|$)/)
			stanza = stanza "Types: deb-src\n"
			next
		}
		{ stanza = stanza $0 "\n" }
		END { flush() }
	' "$f" >"$apt/sources.list.d/host$n.sources"
done
if ! grep -qs . "$apt/sources.list" "$apt/sources.list.d/"*.sources; then
	fail "no deb entries in /etc/apt/sources.list or /etc/apt/sources.list.d to derive deb-src from"
fi

# Only the source list, the lists and the cache move to the scratch
# directory; keyrings and the rest stay the machine's. As root, apt would drop
# to _apt for downloads, which cannot write under OUTDIR.
aptopts=(
	-o "Dir::Etc::SourceList=$apt/sources.list"
	-o "Dir::Etc::SourceParts=$apt/sources.list.d"
	-o "Dir::State::Lists=$apt/lists"
	-o "Dir::Cache=$apt/cache"
	-o "APT::Sandbox::User=$(id -un)"
	-q
)
# A source without deb-src indexes makes update fail while others succeed;
# whether softhsm2's source was found is what counts.
apt-get "${aptopts[@]}" update >"$out/apt-update.log" 2>&1 || true
# apt checks every file it fetches against the signed Sources index. Some
# archive mirrors serve the upstream tarball and the .dsc but not Debian's
# packaging (debian.tar.xz); then the upstream tarball alone is built, which is
# the source Debian ships without Debian's patches, and the log says so.
(cd "$out/src" && apt-get "${aptopts[@]}" source --download-only softhsm2) >"$out/apt-source.log" 2>&1 || true
dsc=("$out/src/"softhsm2_*.dsc)
orig=("$out/src/"softhsm2_*.orig.tar.*)
((${#dsc[@]} == 1 && ${#orig[@]} == 1)) ||
	fail "apt-get source softhsm2 fetched no .dsc and upstream tarball (see $out/apt-source.log)"
debian=("$out/src/"softhsm2_*.debian.tar.*)
if ((${#debian[@]} == 1)); then
	(cd "$out/src" && dpkg-source -x "${dsc[0]}" softhsm2) >"$out/dpkg-source.log" 2>&1 ||
		fail "unpacking ${dsc[0]} failed (see $out/dpkg-source.log)"
else
	echo "softhsm-gost: Debian's packaging was not served; building $(basename "${orig[0]}") without Debian's patches" >&2
	mkdir "$out/src/softhsm2"
	tar -xf "${orig[0]}" -C "$out/src/softhsm2" --strip-components=1
fi

# The configure flags besides --enable-gost are those the tests need (no
# p11-kit registration, files in OUTDIR). The tarball ships configure, so no
# autotools are needed.
log=$out/build.log
(
	cd "$out/src/softhsm2"
	./configure --prefix="$out" --sysconfdir="$out/etc" --localstatedir="$out/var" \
		--with-crypto-backend=openssl --enable-gost --enable-ecc --enable-eddsa \
		--disable-p11-kit --disable-non-paged-memory
	make -j"$(nproc)"
	make install
) >"$log" 2>&1 || fail "building SoftHSM with --enable-gost failed (see $log)"
[[ -f $module && -x $util ]] || fail "build finished without $module and $util (see $log)"
echo "softhsm-gost: built $module"
