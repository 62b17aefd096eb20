#!/bin/bash
# test_run_qemu.sh: aicert run on the qemu runner, end to end: the runner
# image (deploy/image/build.sh) booted under QEMU + OVMF + swtpm (TCG), the
# tiny-finetune job run in it, its proof verified; then the same job on images
# changed by one byte and on the local runner, each proof checked against the
# first run's boot reference:
#
#   1. the image as built: the run verifies on a measured platform, and its
#      proof verifies with its own policy (trust on first use) and outputs;
#      that policy's boot reference (boot_pcrs, boot_events) is the reference
#      for the cases below
#   2. the initrd with one byte changed, same size (the gzip header's MTIME,
#      as a build without gzip -n would write it): the run succeeds on its own
#      policy, and is rejected by the reference, naming PCR 9
#  2b. the initrd with an extra archive appended (etc/aicert-test): rejected
#      by the reference. QEMU writes the initrd's size and address into the
#      kernel's setup header before OVMF measures the kernel, so the first
#      difference is the kernel's event in PCR 4 (PCR 9 differs as well)
#   3. the kernel command line with " aicert.test=1" appended: rejected,
#      naming PCR 9 (the EFI stub measures the command line there)
#   4. a development proof (the local runner) against a policy that trusts
#      its keys and the qemu run's but not development: rejected by platform;
#      the qemu run's proof verifies with that policy
#
# Every run gets a fresh swtpm with its own EK CA and a fresh attestation CA,
# so "the reference" is run 1's policy with the other run's CAs added (run 1's
# policy alone stops the other runs at ek.certificate, also checked). After
# every run no process may mention the test's directory and no runner
# directory may be left.
#
# Usage: tests/image/test_run_qemu.sh BUILD_DIR
# Exit status 0 passed, 1 failed, 77 skipped (qemu, OVMF, swtpm, cpio or
# python3 missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/image/lib.sh"

[ $# -eq 1 ] || die "usage: test_run_qemu.sh BUILD_DIR"
BUILD=$(cd "$1" && pwd)
image_test_needs qemu-system-x86_64 cpio swtpm python3
AICERT=$BUILD/controller/aicert
TRAINER=$BUILD/examples/tiny-finetune/tiny_finetune_train
EXAMPLE=$ROOT/examples/tiny-finetune
[ -x "$AICERT" ] || die "$AICERT not built"
[ -x "$TRAINER" ] || die "$TRAINER not built"

W=$(mktemp -d "${TMPDIR:-/tmp}/aicert-runqemu.XXXXXX")
chmod 0755 "$W"
cleanup() {
	local pids
	# Only if a check below already failed: whatever a run left behind.
	pids=$(pgrep -f "$W" || true)
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086 # one pid per word
		kill -9 $pids 2>/dev/null || true
		sleep 1
	fi
	rm -rf "$W"
}
trap cleanup EXIT
export TMPDIR=$W

# Nothing of a finished run may remain: no process naming $W (qemu, swtpm,
# the agent, the executor) and no runner directory.
check_clean() {
	local procs dirs
	procs=$(pgrep -af "$W" || true)
	[ -z "$procs" ] || die "$1: processes outlived the run:"$'\n'"$procs"
	dirs=$(find "$W" -mindepth 1 -maxdepth 1 -name 'aicert-*')
	[ -z "$dirs" ] || die "$1: runner directories left:"$'\n'"$dirs"
}

# write_job FILE BACKEND [IMAGE_DIR]
write_job() {
	local runner="  backend: $2"
	[ "$2" = local ] || runner+=$'\n'"  options: {image: \"$3\", memory_mb: 2048, cpus: 2}"
	cat >"$1" <<EOF
version: 1
name: tiny-finetune-qemu
runner:
$runner
inputs:
  base_model: {path: "$EXAMPLE/base.safetensors"}
  datasets:
    - {name: train, path: "$EXAMPLE/train.csv"}
    - {name: eval, path: "$EXAMPLE/eval.csv"}
  code: {path: "$W/code"}
training:
  command: [./tiny_finetune_train, --base, inputs/base_model, --data, inputs/train, --eval, inputs/eval, --epochs, "5", --threads, "2", --out, outputs]
  timeout: 10m
  network: none
  metrics: outputs/metrics.json
outputs:
  dir: outputs
  include: [model.safetensors, metrics.json]
proof:
  path: proof.json
EOF
}

# run_job NAME BACKEND [IMAGE_DIR]: aicert run into $W/NAME; must verify.
run_job() {
	local name=$1 start ms rc=0
	write_job "$W/$name.yaml" "$2" "${3:-}"
	start=$(date +%s%N)
	"$AICERT" run "$W/$name.yaml" --out "$W/$name" >"$W/$name.log" 2>&1 || rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	if [ "$rc" -ne 0 ]; then
		cat "$W/$name.log"
		die "$name: aicert run exited $rc"
	fi
	check_clean "$name"
	printf '%s: aicert run (%s) exited 0 in %d.%d s\n' "$name" "$2" $((ms / 1000)) $((ms % 1000 / 100))
	grep -E '^  (platform|time) ' "$W/$name.log" || true
	if [ "$2" = qemu ] && ! grep -q 'VERIFIED on a measured platform' "$W/$name.log"; then
		cat "$W/$name.log"
		die "$name: not verified on a measured platform"
	fi
	if [ ! -f "$W/$name/proof.json" ] || [ ! -f "$W/$name/policy.yaml" ]; then
		die "$name: no proof.json or policy.yaml"
	fi
}

# policy OUT ALLOW_DEVELOPMENT REF POLICY...: REF's policy (its boot
# reference and required PCRs) with allow_development set and the EK roots,
# EK intermediates and attestation CAs of every POLICY. Policies as aicert
# writes them: top-level keys at column 0, their contents indented.
policy() {
	python3 - "$@" <<'EOF'
import sys

CAS = ("ek_roots", "ek_intermediates", "ak_ca")


def sections(path):
    out, key = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                key = None
            elif not line[0].isspace():
                key = line.split(":", 1)[0]
                if key in out:
                    sys.exit(f"{path}: {key} twice")
                out[key] = [line]
            elif key is None:
                sys.exit(f"{path}: indented line outside a key: {line!r}")
            else:
                out[key].append(line)
    return out


out_path, allow_dev, ref_path, *paths = sys.argv[1:]
ref = sections(ref_path)
if "boot_pcrs" not in ref:
    sys.exit(f"{ref_path}: no boot_pcrs")
text = ["# test_run_qemu.sh: " + ref_path + "'s boot reference, the CAs of "
        + ", ".join(paths) + "\n", "version: 1\n"]
for key in CAS:
    items = [line for p in map(sections, paths) for line in p.get(key, [])[1:]]
    if items:
        text += [key + ":\n"] + items
for key, lines in ref.items():
    if key not in CAS and key not in ("version", "allow_development"):
        text += lines
text.append(f"allow_development: {allow_dev}\n")
with open(out_path, "w", encoding="utf-8") as f:
    f.writelines(text)
EOF
}

# expect_rejected NAME PROOF POLICY CHECK PATTERN: aicert verify exits 1,
# rejected by CHECK with a message matching PATTERN (grep -E); prints it.
expect_rejected() {
	local rc=0 line
	"$AICERT" verify "$2" --policy "$3" >"$W/$1.verify" 2>&1 || rc=$?
	line=$(grep '^REJECTED by ' "$W/$1.verify" || true)
	echo "$1: aicert verify exited $rc: $line"
	if [ "$rc" -ne 1 ] || ! grep -q "^REJECTED by $4: " <<<"$line" || ! grep -Eq "$5" <<<"$line"; then
		cat "$W/$1.verify"
		die "$1: expected exit status 1, REJECTED by $4 matching '$5'"
	fi
}

expect_verified() {
	local rc=0
	"$AICERT" verify "${@:2}" >"$W/$1.verify" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$W/$1.verify"
		die "$1: aicert verify exited $rc, expected 0"
	fi
	echo "$1: aicert verify exited 0: $(tail -n 1 "$W/$1.verify")"
}

mkdir "$W/code"
cp "$TRAINER" "$W/code/"

echo "--- 1. the image as built: a measured run, verified with its own policy"
start=$(date +%s)
"$ROOT/deploy/image/build.sh" "$BUILD" "$W/image" >"$W/build.log" 2>&1 ||
	{ cat "$W/build.log"; die "the image build failed"; }
tail -n 1 "$W/build.log"
run_job run1 qemu "$W/image"
expect_verified run1 "$W/run1/proof.json" --policy "$W/run1/policy.yaml" --model "$W/run1/outputs"
REF=$W/run1/policy.yaml
grep -q '^boot_pcrs:' "$REF" || die "run1/policy.yaml has no boot_pcrs"

echo "--- 2. the initrd with one byte changed (gzip MTIME, same size): PCR 9"
cp -r "$W/image" "$W/image2"
[ "$(od -An -tx1 -N8 "$W/image2/initrd.img" | tr -d ' ')" = 1f8b080000000000 ] ||
	die "initrd.img does not start with a gzip header without name or time"
printf '\001' | dd of="$W/image2/initrd.img" bs=1 seek=4 conv=notrunc status=none
gzip -t "$W/image2/initrd.img" 2>/dev/null || die "the changed initrd is not valid gzip"
[ "$(cmp -l "$W/image/initrd.img" "$W/image2/initrd.img" | wc -l)" -eq 1 ] ||
	die "the initrds differ in more than one byte"
run_job run2 qemu "$W/image2"
expect_rejected run2-run1policy "$W/run2/proof.json" "$REF" ek.certificate .
policy "$W/policy2.yaml" false "$REF" "$REF" "$W/run2/policy.yaml"
expect_rejected run2 "$W/run2/proof.json" "$W/policy2.yaml" platform 'PCR 9'

echo "--- 2b. the initrd with an extra archive appended: rejected (PCR 4 or 9)"
cp -r "$W/image" "$W/image2b"
mkdir -p "$W/extra/etc"
printf x >"$W/extra/etc/aicert-test"
(cd "$W/extra" && echo etc/aicert-test | cpio --quiet -o -H newc -R 0:0 --reproducible) |
	gzip -n -9 >>"$W/image2b/initrd.img"
run_job run2b qemu "$W/image2b"
policy "$W/policy2b.yaml" false "$REF" "$REF" "$W/run2b/policy.yaml"
expect_rejected run2b "$W/run2b/proof.json" "$W/policy2b.yaml" platform 'PCR (4|9)'

echo "--- 3. the kernel command line with ' aicert.test=1' appended: PCR 9"
cp -r "$W/image" "$W/image3"
printf ' aicert.test=1' >>"$W/image3/cmdline"
run_job run3 qemu "$W/image3"
policy "$W/policy3.yaml" false "$REF" "$REF" "$W/run3/policy.yaml"
expect_rejected run3 "$W/run3/proof.json" "$W/policy3.yaml" platform 'PCR 9'

echo "--- 4. a development proof against a policy that does not allow development"
run_job run4 local
policy "$W/policy4.yaml" false "$REF" "$REF" "$W/run4/policy.yaml"
expect_rejected run4 "$W/run4/proof.json" "$W/policy4.yaml" platform '[Dd]evelopment'
expect_verified run1-policy4 "$W/run1/proof.json" --policy "$W/policy4.yaml" --model "$W/run1/outputs"
# The same policy allowing development: the local proof verifies (so case 4
# was rejected for being a development proof, and for nothing else).
policy "$W/policy4dev.yaml" true "$REF" "$REF" "$W/run4/policy.yaml"
expect_verified run4-dev "$W/run4/proof.json" --policy "$W/policy4dev.yaml" --model "$W/run4/outputs"

echo "--- 5. the image's recorded reference boot: runs must match it before anything is sent"
"$ROOT/deploy/image/reference-boot.sh" "$BUILD" "$W/image" || die "reference-boot.sh failed"
run_job run5 qemu "$W/image"
grep -q "event for event as the image's reference boot" "$W/run5.log" ||
	{ cat "$W/run5.log"; die "run5: the reference boot was not used"; }
cp "$W/image/boot-reference.yaml" "$W/image3/"
write_job "$W/run5b.yaml" qemu "$W/image3"
rc=0
"$AICERT" run "$W/run5b.yaml" --out "$W/run5b" >"$W/run5b.log" 2>&1 || rc=$?
check_clean run5b
line=$(grep 'error:' "$W/run5b.log" || true)
echo "run5b: aicert run exited $rc: $line"
if [ "$rc" -ne 1 ] || ! grep -Eq "did not verify \(platform\): boot event [0-9]+: PCR 9" <<<"$line"; then
	cat "$W/run5b.log"
	die "run5b: a changed command line was not refused before the job"
fi
! grep -q '^training:' "$W/run5b.log" || die "run5b: the job ran on a runner that did not verify"
[ ! -e "$W/run5b/proof.json" ] || die "run5b: a proof"

echo "all run_qemu cases passed in $(($(date +%s) - start)) s"
