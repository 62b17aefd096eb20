#!/bin/bash
# test_reproducible.sh: builds the runner image twice from the same build
# directory (sharing the .deb cache) and compares every output byte for byte.
#
# Usage: tests/image/test_reproducible.sh BUILD_DIR
# Exit status 0 identical, 1 different or failed, 77 skipped (the image's
# tools are not installed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/image/lib.sh"

[ $# -eq 1 ] || die "usage: test_reproducible.sh BUILD_DIR"
BUILD=$1
image_test_needs qemu-system-x86_64 cpio

TMP=$(mktemp -d "${TMPDIR:-/tmp}/aicert-repro.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

"$ROOT/deploy/image/build.sh" "$BUILD" "$TMP/a" || die "first build failed"
"$ROOT/deploy/image/build.sh" "$BUILD" "$TMP/b" || die "second build failed"
status=0
for f in vmlinuz initrd.img cmdline SHA256SUMS manifest.txt; do
	if ! cmp "$TMP/a/$f" "$TMP/b/$f"; then
		echo "test_reproducible.sh: $f differs" >&2
		status=1
	fi
done
if [ "$status" -ne 0 ]; then
	diff "$TMP/a/manifest.txt" "$TMP/b/manifest.txt" >&2 || true
	exit 1
fi
diff <(ls "$TMP/a") <(ls "$TMP/b") || die "the builds made different files"
echo "test_reproducible.sh: two builds, identical outputs:"
cat "$TMP/a/SHA256SUMS"
