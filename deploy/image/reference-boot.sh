#!/usr/bin/env bash
# reference-boot.sh BUILD_DIR IMAGE_DIR: records the image's reference boot.
#
# Boots IMAGE_DIR once as the qemu runner does (memory_mb 2048, the default)
# with a job that does nothing, takes its proof, and writes
# IMAGE_DIR/boot-reference.yaml (`aicert policy boot`): the boot's PCRs 0-7
# and 9 and every boot event of them. Before it writes, it checks that the
# image's own events of PCRs 4 and 9 are exactly reference-events.txt, which
# reference.py computed from the image's files: the recorded boot booted
# this image. PCRs 0-7 are the firmware's and QEMU's (the `ovmf` and QEMU
# packages of this machine, recorded in the file's header).
#
# From then on `aicert run` on this image requires every boot to match the
# reference event for event, and a verifier's policy can include it:
#   aicert policy init ... --boot-reference IMAGE_DIR/boot-reference.yaml
set -euo pipefail
BUILD=${1:?usage: reference-boot.sh BUILD_DIR IMAGE_DIR}
IMAGE=$(cd "${2:?usage: reference-boot.sh BUILD_DIR IMAGE_DIR}" && pwd)
AICERT=$BUILD/controller/aicert
W=$(mktemp -d "${TMPDIR:-/tmp}/aicert-reference.XXXXXX")
trap 'rm -rf "$W"' EXIT
chmod 0755 "$W"
die() { echo "reference-boot.sh: $*" >&2; exit 1; }

[ -f "$IMAGE/reference-events.txt" ] || die "$IMAGE: no reference-events.txt (deploy/image/build.sh)"
rm -f "$IMAGE/boot-reference.yaml" # this boot is the reference, not checked against an old one
mkdir -p "$W/code"
printf '#!/bin/sh\nmkdir -p outputs && echo reference > outputs/boot\n' >"$W/code/run.sh"
chmod 0755 "$W/code/run.sh"
cat >"$W/job.yaml" <<YAML
version: 1
name: reference-boot
runner: {backend: qemu, options: {image: $IMAGE, memory_mb: 2048, cpus: 2}}
inputs:
  code: {path: $W/code}
training:
  command: [sh, run.sh]
  env: {PATH: /bin}
  timeout: 5m
outputs: {dir: outputs}
proof: {path: proof.json}
YAML
"$AICERT" run "$W/job.yaml" --out "$W/run" >"$W/run.log" 2>&1 ||
	{ tail -20 "$W/run.log" >&2; die "the reference boot failed"; }
"$AICERT" policy boot "$W/run/proof.json" --out "$W/boot.yaml" >/dev/null

# The image's events in the recorded boot, as reference-events.txt has them.
grep -E '\{pcr: (4, type: EV_EFI_BOOT_SERVICES_APPLICATION|9, type: EV_EVENT_TAG),' "$W/boot.yaml" |
	sed -E 's/.*pcr: ([0-9]+), type: ([A-Z_]+), sha256: ([0-9a-f]+)\}.*/\1 \2 \3/' >"$W/booted"
cut -d' ' -f1-3 "$IMAGE/reference-events.txt" >"$W/computed"
diff "$W/computed" "$W/booted" >&2 ||
	die "the boot's PCR 4/9 events are not the ones computed from the image (above)"
{
	echo "# The reference boot of this image ($(date -u +%Y-%m-%dT%H:%M:%SZ)), by deploy/image/reference-boot.sh:"
	echo "# qemu-system-x86 $(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || echo '?'), ovmf $(dpkg-query -W -f='${Version}' ovmf 2>/dev/null || echo '?'), memory_mb 2048."
	echo "# PCR 4 and 9 image events equal reference-events.txt (computed from the files)."
	cat "$W/boot.yaml"
} >"$W/boot-reference.yaml"
# aicert reads files that begin with boot_pcrs: move the header below.
{ grep -v '^#' "$W/boot-reference.yaml"; grep '^#' "$W/boot-reference.yaml"; } >"$IMAGE/boot-reference.yaml.tmp"
mv "$IMAGE/boot-reference.yaml.tmp" "$IMAGE/boot-reference.yaml"
echo "reference boot recorded: $IMAGE/boot-reference.yaml ($(grep -c 'pcr:' "$IMAGE/boot-reference.yaml") events)"
