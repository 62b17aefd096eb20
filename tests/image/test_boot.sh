#!/bin/bash
# test_boot.sh: builds the runner image and boots it once
# (deploy/image/boot-test.sh): it must print "aicert-image: ready", and its
# agent must answer over mutual TLS through the forwarded port with a
# firmware event log that replays to its PCRs.
#
# Usage: tests/image/test_boot.sh BUILD_DIR
# Exit status 0 booted, 1 failed, 77 skipped (qemu, OVMF or swtpm missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/image/lib.sh"

[ $# -eq 1 ] || die "usage: test_boot.sh BUILD_DIR"
BUILD=$(cd "$1" && pwd)
image_test_needs qemu-system-x86_64 cpio swtpm

TMP=$(mktemp -d "${TMPDIR:-/tmp}/aicert-imgboot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

"$ROOT/deploy/image/build.sh" "$BUILD" "$TMP/image" || die "the image build failed"
AICERT_CLI=$BUILD/controller/aicert "$ROOT/deploy/image/boot-test.sh" "$TMP/image"
