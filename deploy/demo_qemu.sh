#!/usr/bin/env bash
# demo_qemu.sh BUILD_DIR: the example job on the qemu runner (measured boot),
# then its verification. Run through ./deploy/dev.sh demo-qemu.
#
# Builds the runner image (deploy/image/build.sh, reproducible), records its
# reference boot (deploy/image/reference-boot.sh), runs
# examples/tiny-finetune/job-qemu.yaml with `aicert run` (the image booted
# under QEMU with OVMF and a fresh vTPM, the job inside it), and verifies the
# proof and the weights offline. The results stay in BUILD_DIR/demo-qemu-run.
set -euo pipefail

BUILD=${1:?usage: demo_qemu.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AICERT=$BUILD/controller/aicert
OUT=$BUILD/demo-qemu-run

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[ "$(cd "$BUILD" && pwd)" = "$ROOT/build" ] ||
	{ echo "demo_qemu.sh: job-qemu.yaml expects the build in $ROOT/build" >&2; exit 2; }
step "the runner image: deploy/image/build.sh $BUILD $BUILD/image"
"$ROOT/deploy/image/build.sh" "$BUILD" "$BUILD/image"

step "its reference boot: deploy/image/reference-boot.sh (PCR 4/9 checked against the files)"
"$ROOT/deploy/image/reference-boot.sh" "$BUILD" "$BUILD/image"

step "aicert run examples/tiny-finetune/job-qemu.yaml --out $OUT"
"$AICERT" run "$ROOT/examples/tiny-finetune/job-qemu.yaml" --out "$OUT" --force

step "aicert verify: the proof and the weights, offline"
"$AICERT" verify "$OUT/proof.json" --policy "$OUT/policy.yaml" --model "$OUT/outputs"
