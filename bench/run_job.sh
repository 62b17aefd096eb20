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
#  3. With BENCH_QEMU_IMAGE=DIR (deploy/image/build.sh's output): the same
#     job (the host-built trainer as its code, 10 epochs) on the local runner
#     and on the qemu runner, each phase's time side by side.
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
sed -n '/^  time/,/^ *runner start/p' "$W/run-1.log" | sed 's/^  time  /  one run:/'

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

[ -n "${BENCH_QEMU_IMAGE:-}" ] || exit 0
echo "== 3. one job on the local runner and on the qemu runner (image $BENCH_QEMU_IMAGE)"
mkdir -p "$W/code"
cp "$BUILD/examples/tiny-finetune/tiny_finetune_train" "$W/code/"
for backend in local qemu; do
	if [ "$backend" = qemu ]; then
		runner="{backend: qemu, options: {image: $BENCH_QEMU_IMAGE, memory_mb: 2048, cpus: 2}}"
	else
		runner="{backend: local}"
	fi
	cat >"$W/$backend.yaml" <<YAML
version: 1
name: bench-$backend
runner: $runner
inputs:
  base_model: {path: $EX/base.safetensors}
  datasets:
    - {name: train, path: $EX/train.csv}
    - {name: eval, path: $EX/eval.csv}
  code: {path: $W/code}
training:
  command: [./tiny_finetune_train, --base, inputs/base_model, --data, inputs/train, --eval, inputs/eval, --epochs, "10", --threads, "2", --out, outputs]
  timeout: 10m
outputs: {dir: outputs}
proof: {path: proof.json}
YAML
	"$AICERT" run "$W/$backend.yaml" --out "$W/$backend-run" >"$W/$backend.log" 2>&1
	t0=$(now)
	"$AICERT" verify "$W/$backend-run/proof.json" --policy "$W/$backend-run/policy.yaml" \
		--model "$W/$backend-run/outputs" >/dev/null
	elapsed "$t0" >"$W/$backend.verify"
done
awk -v lv="$(cat "$W/local.verify")" -v qv="$(cat "$W/qemu.verify")" '
	FNR == 1 { f++ }
	/training .* s, whole run/ { for (i = 1; i <= NF; i++) if ($i == "training") tr[f] = $(i + 1); for (i = 1; i <= NF; i++) if ($i == "run") wh[f] = $(i + 1) }
	/runner start/ { for (i = 1; i <= NF; i++) { if ($i == "start") rs[f] = $(i + 1); if ($i == "binding") en[f] = $(i + 1); if ($i == "inputs") inp[f] = $(i + 1); if ($i == "verification") pv[f] = $(i + 1) } }
	END {
		printf "  %-34s %9s %9s %7s\n", "", "local", "qemu", "ratio"
		row("runner start (boot to agent-ready)", rs[1], rs[2])
		row("enrollment and PCR 15 binding", en[1], en[2])
		row("inputs", inp[1], inp[2])
		row("training (10 epochs)", tr[1], tr[2])
		row("outputs, proof and verification", pv[1], pv[2])
		row("whole run", wh[1], wh[2])
		row("aicert verify, offline", lv, qv)
	}
	function row(name, a, b) { printf "  %-34s %8.2fs %8.2fs %6.1fx\n", name, a, b, (a > 0 ? b / a : 0) }
' "$W/local.log" "$W/qemu.log"
