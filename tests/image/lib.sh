# shellcheck shell=bash
# Shared by the image tests (sourced after `set -euo pipefail`), which all
# start alike. die MSG: the test fails (exit 1). skip MSG: it is skipped
# (exit 77, ctest's SKIP_RETURN_CODE). Messages start with the script's name.
SELF=$(basename "$0")
die() {
	echo "$SELF: $*" >&2
	exit 1
}
skip() {
	echo "$SELF: skipped: $*" >&2
	exit 77
}

# image_test_needs TOOL...: skipped unless every TOOL and OVMF (AICERT_OVMF,
# or Debian's) are installed.
image_test_needs() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || skip "$tool not found"
	done
	[ -f "${AICERT_OVMF:-/usr/share/ovmf/OVMF.fd}" ] || skip "OVMF not found"
}
