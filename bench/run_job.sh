#!/usr/bin/env bash
# run_job.sh BUILD_DIR [ROUNDS] [INPUT_MIB]: what `aicert run` costs on top of
# the training command, on the local runner, measured in one run.
#
#  1. The example job (examples/tiny-finetune/job.yaml): its command (compile
#     the trainer, fine-tune 100 epochs) run directly in a copy of the
#     workspace, as the baseline; then `aicert run`. Reported: the run's wall
#     time, the command's own time inside the sandbox (job-end's wall_ms in the
#     proof), the overhead (run - command) and its parts, and the ratios to
#     the direct run.
#  2. Input staging: a job whose dataset is one INPUT_MIB file (default 1024)
#     and whose command does nothing. Its staging (upload through the RPC,
#     hashing in the runner, extend) against `cp` + `sha256sum` of the same
#     file, as MiB/s and a ratio.
# ROUNDS (default 3) of each; the median is printed. Figures: bench/README.md.
set -euo pipefail
BUILD=${1:?usage: run_job.sh BUILD_DIR [ROUNDS] [INPUT_MIB]}
ROUNDS=${2:-3}
MIB=${3:-1024}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AICERT=$BUILD/controller/aicert
EX=$ROOT/examples/tiny-finetune
W=$(mktemp -d "${TMPDIR:-/tmp}/aicert-bench-run.XXXXXX")
chmod 0755 "$W"
trap 'rm -rf "$W"' EXIT
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {print b - a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wall_ms() { # the job-end wall_ms recorded in a proof
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))["statement"]["predicate"]["runDetails"]
print(json.dumps(d))' "$1" | grep -o '"wall_ms": [0-9]*' | grep -o '[0-9]*$'
}

echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. the example job, $ROUNDS rounds"
: >"$W/direct" ; : >"$W/run" ; : >"$W/cmd"
for i in $(seq "$ROUNDS"); do
	# Baseline: the job's command in a workspace laid out as the runner does.
	D=$W/direct-$i
	mkdir -p "$D/inputs"
	cp "$EX"/src/* "$D/"
	cp "$EX/base.safetensors" "$D/inputs/base_model"
	cp "$EX/train.csv" "$D/inputs/train"
	cp "$EX/eval.csv" "$D/inputs/eval"
	t0=$(now)
	(cd "$D" && sh -c 'cc -std=gnu11 -O2 -ffp-contract=off -pthread -o tiny_finetune_train *.c -lm &&
		./tiny_finetune_train --base inputs/base_model --data inputs/train --eval inputs/eval \
		--epochs 100 --threads 2 --out outputs' >/dev/null)
	elapsed "$t0" >>"$W/direct"
	t0=$(now)
	"$AICERT" run "$EX/job.yaml" --out "$W/run-$i" >"$W/run-$i.log" 2>&1
	elapsed "$t0" >>"$W/run"
	awk -v ms="$(wall_ms "$W/run-$i/proof.json")" 'BEGIN {print ms / 1000}' >>"$W/cmd"
	rm -rf "$D"
done
direct=$(median <"$W/direct"); run=$(median <"$W/run"); cmd=$(median <"$W/cmd")
awk -v d="$direct" -v r="$run" -v c="$cmd" 'BEGIN {
	printf "  command run directly       %6.2f s  (baseline)\n", d
	printf "  the command in the sandbox %6.2f s  %.2fx the baseline\n", c, c / d
	printf "  aicert run, whole          %6.2f s  %.2fx the baseline\n", r, r / d
	printf "  overhead (run - command)   %6.2f s  %.2fx the baseline\n", r - c, (r - c) / d
}'
grep "^  time" "$W/run-1.log" | sed 's/^  time  /  one run:/'

echo "== 2. staging a ${MIB} MiB input, $ROUNDS rounds"
head -c $((MIB << 20)) /dev/urandom >"$W/big.bin"
cat >"$W/big.yaml" <<YAML
version: 1
name: staging
runner: {backend: local}
inputs:
  datasets:
    - {name: big, path: $W/big.bin}
  code: {path: $EX/src}
training:
  command: [sh, -c, 'mkdir -p outputs && echo done > outputs/done']
  env: {PATH: /usr/bin:/bin}
  timeout: 10m
outputs: {dir: outputs}
proof: {path: proof.json}
YAML
: >"$W/stage" ; : >"$W/base"
for i in $(seq "$ROUNDS"); do
	t0=$(now)
	cp "$W/big.bin" "$W/copy.bin" && sha256sum "$W/copy.bin" >/dev/null
	elapsed "$t0" >>"$W/base"
	rm -f "$W/copy.bin"
	"$AICERT" run "$W/big.yaml" --out "$W/big-$i" >"$W/big-$i.log" 2>&1
	sed -n 's/^  dataset *big .*(\([0-9.]*\) s)$/\1/p' "$W/big-$i.log" >>"$W/stage"
	rm -rf "$W/big-$i"
done
stage=$(median <"$W/stage"); base=$(median <"$W/base")
awk -v s="$stage" -v b="$base" -v m="$MIB" 'BEGIN {
	printf "  cp + sha256sum             %6.2f s  %6.0f MiB/s (baseline)\n", b, m / b
	printf "  upload + hash + extend     %6.2f s  %6.0f MiB/s  %.2fx the baseline speed\n", s, m / s, b / s
}'
