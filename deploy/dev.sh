#!/usr/bin/env bash
# dev.sh: build, test and demo aicert on a Debian 12 machine.
#
#   ./deploy/dev.sh test    install missing packages, build, run every test
#   ./deploy/dev.sh demo    install missing packages, build, run the demo: an
#                           attested training run on the local runner, verified
#   ./deploy/dev.sh demo-qemu   the example job on the qemu runner: the
#                           runner image built, booted with OVMF (measured)
#   ./deploy/dev.sh demo-platform   the lower-level demo: a quote checked by
#                           tpm2_checkquote, enrollment, a proof of the platform
#   ./deploy/dev.sh build   install missing packages and build
#   ./deploy/dev.sh deps    install missing packages only
#   ./deploy/dev.sh format-check   every C file as .clang-format has it
#
# Packages are installed with apt-get (apt-get update first) when missing,
# which needs root. The build goes to $AICERT_BUILD_DIR (default ./build).
# Environment switches, all off by default:
#   AICERT_WERROR=1    warnings are errors
#   AICERT_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer
#   AICERT_FUZZ=1      build the libFuzzer targets and run them (bounded) as
#                      tests; needs clang, so CC defaults to clang then
#   CTEST_ARGS="..."   extra arguments for ctest, e.g. "-L unit"
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${AICERT_BUILD_DIR:-$ROOT/build}

PACKAGES=(
	build-essential cmake ninja-build pkg-config git ca-certificates openssl
	libtss2-dev libprotobuf-c-dev protobuf-c-compiler libnng-dev libssl-dev
	libyaml-dev libcmocka-dev libjansson-dev libcurl4-openssl-dev
	swtpm swtpm-tools tpm2-tools python3 qemu-system-x86 ovmf cpio
	gdb # the test harness prints a stuck agent's threads with it
)
FUZZ_PACKAGES=(clang libclang-rt-14-dev)
FORMAT_PACKAGES=(clang-format)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

deps() {
	local want=("${PACKAGES[@]}") missing=()
	[ "${AICERT_FUZZ:-0}" = 1 ] && want+=("${FUZZ_PACKAGES[@]}")
	[ "${1:-}" = format ] && want=("${FORMAT_PACKAGES[@]}")
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing ${missing[*]}"
	local sudo=()
	[ "$(id -u)" -ne 0 ] && sudo=(sudo)
	"${sudo[@]}" apt-get update -q
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
		"${missing[@]}"
}

build() {
	local args=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
	[ "${AICERT_WERROR:-0}" = 1 ] && args+=(-DAICERT_WERROR=ON)
	[ "${AICERT_SANITIZE:-0}" = 1 ] && args+=(-DAICERT_SANITIZE=ON)
	if [ "${AICERT_FUZZ:-0}" = 1 ]; then
		args+=(-DAICERT_FUZZ=ON)
		export CC=${CC:-clang}
	fi
	say "configuring in $BUILD"
	cmake -S "$ROOT" -B "$BUILD" "${args[@]}" >/dev/null
	say "building"
	cmake --build "$BUILD" -j "$(nproc)"
}

run_tests() {
	say "running the tests"
	# shellcheck disable=SC2086
	ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" ${CTEST_ARGS:-}
}

format_check() {
	say "checking the format of every C file"
	cd "$ROOT"
	git ls-files '*.c' '*.h' | while read -r f; do [ -e "$f" ] && echo "$f"; done |
		xargs clang-format --dry-run --Werror
}

case "${1:-}" in
deps) deps ;;
format-check) deps format && format_check ;;
build) deps && build ;;
test) deps && build && run_tests ;;
demo) deps && build && exec "$ROOT/deploy/demo.sh" "$BUILD" ;;
demo-platform) deps && build && exec "$ROOT/deploy/demo_platform.sh" "$BUILD" ;;
demo-qemu) deps && build && exec "$ROOT/deploy/demo_qemu.sh" "$BUILD" ;;
*)
	sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
