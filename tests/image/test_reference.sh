#!/bin/bash
# test_reference.sh: the PCR 4 and PCR 9 reference events that
# deploy/image/reference.py computes from the image's files alone
# (reference-events.txt) are what a real boot measures: builds the image,
# boots it once (deploy/image/boot-test.sh, which fetches the firmware event
# log through the agent), parses that log with tpm2_eventlog, and checks
# that every reference line is an event of that PCR and type with that
# SHA-256 digest, in the same order. Prints the matching events.
#
# boot-test.sh starts QEMU with its own -m; the kernel's digest depends on
# the RAM below 4 GiB (QEMU patches the setup header), so the references are
# recomputed for that size, and the image's own reference-events.txt (for
# the runner's 2048 MiB) must equal them where the sizes agree.
#
# Usage: tests/image/test_reference.sh BUILD_DIR
# Exit status 0 matched, 1 failed, 77 skipped (qemu, OVMF, swtpm or
# tpm2_eventlog missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/image/lib.sh"

[ $# -eq 1 ] || die "usage: test_reference.sh BUILD_DIR"
BUILD=$(cd "$1" && pwd)
IMG=$ROOT/deploy/image
image_test_needs qemu-system-x86_64 cpio swtpm tpm2_eventlog python3
[ -x "$BUILD/controller/aicert" ] || die "$BUILD/controller/aicert: not built"

# The RAM boot-test.sh gives the guest.
mapfile -t MEM < <(grep -o -- '-m [0-9][0-9]*' "$IMG/boot-test.sh" | cut -d' ' -f2)
[ ${#MEM[@]} -eq 1 ] || die "cannot tell boot-test.sh's -m (${#MEM[@]} matches)"
BOOT_MB=${MEM[0]}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/aicert-imgref.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
START=$(date +%s.%N)

"$IMG/build.sh" "$BUILD" "$TMP/image" || die "the image build failed"
REF=$TMP/image/reference-events.txt
[ -s "$REF" ] || die "the image has no reference-events.txt"
(cd "$TMP/image" && sha256sum --quiet -c SHA256SUMS) || die "SHA256SUMS does not check"
grep -q ' reference-events.txt$' "$TMP/image/SHA256SUMS" ||
	die "SHA256SUMS does not cover reference-events.txt"
echo "test_reference.sh: reference-events.txt:"
sed 's/^/  /' "$REF"

# The references for the boot below, and the image's against them.
python3 "$IMG/reference.py" --memory-mb "$BOOT_MB" --out "$TMP/boot-ref.txt" "$TMP/image" ||
	die "reference.py --memory-mb $BOOT_MB failed"
python3 "$IMG/reference.py" --out "$TMP/again.txt" "$TMP/image" || die "reference.py failed"
cmp -s "$REF" "$TMP/again.txt" || die "reference.py is not deterministic"
[ "$(tail -n +2 "$REF")" = "$(tail -n +2 "$TMP/boot-ref.txt")" ] ||
	die "the PCR 9 references depend on the RAM size"
if [ "$BOOT_MB" -ge 2048 ]; then
	cmp -s "$REF" "$TMP/boot-ref.txt" ||
		die "reference-events.txt differs from the references for -m $BOOT_MB"
else
	echo "test_reference.sh: boot-test.sh boots with -m $BOOT_MB: checking the references" \
		"for that RAM (the PCR 4 line differs from the image's, which is for -m 2048)"
fi

# Boot once and keep the agent's event log (boot-test.sh's temporary
# directory goes under $TMP/boot and is removed with $TMP).
mkdir -p "$TMP/boot"
set +e
TMPDIR=$TMP/boot AICERT_IMAGE_KEEP=1 AICERT_CLI=$BUILD/controller/aicert \
	"$IMG/boot-test.sh" "$TMP/image"
rc=$?
set -e
[ $rc -ne 77 ] || exit 77
[ $rc -eq 0 ] || die "boot-test.sh failed ($rc)"
LOGS=("$TMP"/boot/aicert-boot.*/eventlog/boot.bin)
if [ ${#LOGS[@]} -ne 1 ] || [ ! -s "${LOGS[0]}" ]; then
	die "boot-test.sh left no event log"
fi

# "NUM PCR TYPE SHA256" per event of the boot log.
tpm2_eventlog "${LOGS[0]}" 2>"$TMP/eventlog.err" >"$TMP/eventlog.yaml" ||
	die "tpm2_eventlog failed: $(head -n 3 "$TMP/eventlog.err")"
awk '
	function flush() { if (num != "") print num, pcr, type, (sha == "" ? "-" : sha); num = "" }
	/^- EventNum:/ { flush(); num = $3; pcr = ""; type = ""; sha = ""; in256 = 0; next }
	/^pcrs:/ { flush(); exit }
	/^  PCRIndex:/ { pcr = $2; next }
	/^  EventType:/ { type = $2; next }
	/AlgorithmId:/ { in256 = ($3 == "sha256"); next }
	in256 && /Digest:/ { d = $2; gsub(/"/, "", d); sha = tolower(d); in256 = 0 }
	END { flush() }' "$TMP/eventlog.yaml" >"$TMP/events"
[ -s "$TMP/events" ] || die "tpm2_eventlog gave no events"

echo "test_reference.sh: the boot's PCR 4 and 9 events:"
awk '$2 == 4 || $2 == 9 { printf "  event %s: PCR %s %s %s\n", $1, $2, $3, $4 }' "$TMP/events"

# Every reference line, in order, among the boot's events.
echo "test_reference.sh: matched (-m $BOOT_MB):"
last=-1 fail=0
while read -r pcr type sha what; do
	hit=$(awk -v p="$pcr" -v t="$type" -v s="$sha" -v l="$last" \
		'$1 > l && $2 == p && $3 == t && $4 == s { print $1; exit }' "$TMP/events")
	if [ -n "$hit" ]; then
		echo "  event $hit: PCR $pcr $type $sha  = $what"
		last=$hit
	else
		echo "  MISSING: PCR $pcr $type $sha  ($what)" >&2
		fail=1
	fi
done <"$TMP/boot-ref.txt"
[ $fail -eq 0 ] || die "the boot did not measure what reference.py computes"

awk -v s="$START" -v e="$(date +%s.%N)" -v n="$(wc -l <"$TMP/boot-ref.txt")" 'BEGIN {
	printf "test_reference.sh: all %d reference events measured by the boot (%.1f s)\n", n, e - s }'
