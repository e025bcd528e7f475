#!/usr/bin/env bash
# Builds the tokenagent packages: the .deb and the .rpm (nfpm), and the
# Windows .msi (wixl, from a binary cross-compiled with mingw, cgo on).
# Used by `make package`, and by installer's TestPackages under CI.
#
# Usage: scripts/package.sh [DIST]   (default: dist)
# Environment: VERSION (default: git describe), GO (default: go),
# BUILD (work directory, default: build/package).
# Needs: nfpm (installed pinned into build/tools), wixl, and
# x86_64-w64-mingw32-gcc; `make deps` installs the last two.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

NFPM_VERSION=v2.45.2
dist=$(realpath -m "${1:-dist}")
build=$(realpath -m "${BUILD:-build/package}")
GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

# Package version: the tag without its "v" when it is a version; anything
# else (a commit, "dev") sorts below every release as 0.0.0~THING. Debian
# and RPM both read "~" as "before"; "-" is their release separator.
case "$VERSION" in
v[0-9]* | [0-9]*) pkg_version=${VERSION#v} ;;
*) pkg_version=0.0.0~$VERSION ;;
esac
pkg_version=${pkg_version//-/.}
# MSI versions are numeric major.minor.build (255.255.65535 at most).
msi_version=$(printf '%s\n' "$pkg_version" | sed -nE 's/^([0-9]+)\.([0-9]+)\.([0-9]+).*/\1.\2.\3/p')
msi_version=${msi_version:-0.0.0}

for tool in wixl x86_64-w64-mingw32-gcc; do
	if ! command -v "$tool" >/dev/null; then
		echo "package: $tool not found; run make deps (wixl, gcc-mingw-w64-x86-64)" >&2
		exit 1
	fi
done

nfpm=$root/build/tools/nfpm-$NFPM_VERSION
if [[ ! -x $nfpm ]]; then
	echo "==> nfpm $NFPM_VERSION into build/tools"
	mkdir -p "$root/build/tools/bin-$NFPM_VERSION"
	GOBIN=$root/build/tools/bin-$NFPM_VERSION "$GO" install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
	mv "$root/build/tools/bin-$NFPM_VERSION/nfpm" "$nfpm"
	rmdir "$root/build/tools/bin-$NFPM_VERSION"
fi

rm -rf "$build/linux_amd64" "$build/windows_amd64"
mkdir -p "$build/linux_amd64" "$build/windows_amd64" "$dist"
ldflags="-X main.version=$VERSION"

echo "==> linux/amd64 binary (version $VERSION)"
CGO_ENABLED=1 GOOS=linux GOARCH=amd64 "$GO" build -trimpath -ldflags "$ldflags" \
	-o "$build/linux_amd64/tokenagent" ./cmd/tokenagent

echo "==> windows/amd64 binary (mingw, cgo)"
CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc "$GO" build -trimpath -ldflags "$ldflags" \
	-o "$build/windows_amd64/tokenagent.exe" ./cmd/tokenagent

for packager in deb rpm; do
	out=$dist/tokenagent_${pkg_version}_amd64.$packager
	echo "==> $out"
	rm -f "$out"
	VERSION=$pkg_version TOKENAGENT_LINUX_BIN=$build/linux_amd64/tokenagent \
		"$nfpm" package --config installer/nfpm.yaml --packager "$packager" --target "$out"
done

out=$dist/tokenagent_${pkg_version}_amd64.msi
echo "==> $out (MSI version $msi_version)"
rm -f "$out"
# wixl resolves File/@Source against the working directory only.
(cd "$build/windows_amd64" && wixl --arch x64 -D "Version=$msi_version" -D Exe=tokenagent.exe \
	-o "$out" "$root/installer/package/tokenagent.wxs")
echo "package: done"
ls -l "$dist"
