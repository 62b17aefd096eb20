#!/usr/bin/env bash
# demo.sh BUILD_DIR: an attested training run on the local runner, then its
# verification. Run through ./deploy/dev.sh demo.
#
# `aicert run` provisions a local runner (a software TPM with its own EK CA,
# aicert-agent and aicert-executor), enrolls it with a fresh attestation CA,
# stages and measures the example job's inputs (base model, two datasets, the
# trainer's C sources) into PCR 14, builds and runs the fine-tuning in the
# sandbox, measures the weights into PCR 8, and writes a proof that it
# verified. Then `aicert verify` checks the proof and the weights offline, as
# anyone could, and a copy of the weights with one byte changed is rejected.
# The results stay in BUILD_DIR/demo-run.
set -euo pipefail

BUILD=${1:?usage: demo.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AICERT=$BUILD/controller/aicert
OUT=$BUILD/demo-run

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "aicert run examples/tiny-finetune/job.yaml --out $OUT"
# The command (run as nobody when we are root) must reach the runner's
# workspace under TMPDIR.
"$AICERT" run "$ROOT/examples/tiny-finetune/job.yaml" --out "$OUT" --force

step "aicert verify: the proof and the weights, offline"
"$AICERT" verify "$OUT/proof.json" --policy "$OUT/policy.yaml" --model "$OUT/outputs"

step "the same proof against weights with one byte changed"
TAMPERED=$(mktemp -d "${TMPDIR:-/tmp}/aicert-demo-tampered.XXXXXX")
trap 'rm -rf "$TAMPERED"' EXIT
cp "$OUT/outputs/"* "$TAMPERED/"
printf '\x01' | dd of="$TAMPERED/model.safetensors" bs=1 seek=4096 conv=notrunc 2>/dev/null
got=0
"$AICERT" verify "$OUT/proof.json" --policy "$OUT/policy.yaml" --model "$TAMPERED" \
	>"$TAMPERED/verify.out" || got=$?
grep -E "FAIL|REJECTED" "$TAMPERED/verify.out"
if [ "$got" != 1 ]; then
	echo "the tampered weights were not rejected (exit status $got): this is a bug" >&2
	exit 1
fi
echo "rejected, as it must be (exit status 1)"

step "done"
echo "proof, weights, policy and training log: $OUT"
echo "a readable summary of the proof: $AICERT show $OUT/proof.json"
