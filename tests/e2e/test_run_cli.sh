#!/usr/bin/env bash
# `aicert run` end to end, through the CLI, on the local runner (real swtpm,
# agent and executor):
#  1. the example job runs, verifies, and `aicert verify --model` agrees;
#     the proof lists exactly the inputs given, with digests equal to
#     sha256sum's (a directory's: the digest of its sha256sum manifest);
#  2. one changed byte of the weights is rejected (model.files);
#  3. a command that looks for the agent's and the TPM's sockets and tries
#     to extend PCR 14 finds nothing, and its proof is clean;
#  4. a failing command: exit 1, its output kept, no proof, no outputs;
#  5. a command past its timeout: killed, no proof, nothing left running;
#  6. Ctrl-C during training: exit 130, the runner torn down, no proof;
#  7. bad job files: exit 2 with file:line:col, before anything starts;
#  8. a full disk (root only: small tmpfs mounts), in the runner while an
#     input is staged and in --out while the outputs arrive: a clear error,
#     no proof, no outputs, nothing left running;
#  9. a command that plants a symbolic link as (a parent of) outputs.dir, and
#     a FIFO as its metrics file: nothing outside the workspace is measured
#     or served, and nothing hangs.
# Usage: test_run_cli.sh BUILD_DIR
set -euo pipefail
BUILD=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AICERT=$BUILD/controller/aicert
EX=$ROOT/examples/tiny-finetune
W=$(mktemp -d "${TMPDIR:-/tmp}/aicert-run-cli.XXXXXX")
chmod 0755 "$W" # the command (nobody, when we are root) may look for the runner
export TMPDIR=$W # runners go here: leftovers are easy to find
MOUNTS=()
cleanup() {
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
# A job file in $W/NAME/job.yaml with the example's inputs and the given
# command (a YAML flow sequence) and timeout.
write_job() { # write_job NAME COMMAND TIMEOUT
	mkdir -p "$W/$1"
	cat >"$W/$1/job.yaml" <<YAML
version: 1
name: $1
runner: {backend: local}
inputs:
  base_model: {path: $EX/base.safetensors}
  datasets:
    - {name: train, path: $EX/train.csv}
  code: {path: $EX/src}
training:
  command: $2
  env: {PATH: /usr/local/bin:/usr/bin:/bin}
  timeout: $3
  network: none
outputs:
  dir: outputs
proof:
  path: proof.json
YAML
}

step "1. the example job"
expect_exit 0 "$W/run1.out" "$AICERT" run "$EX/job.yaml" --out "$W/run1"
grep -q "== aicert run: VERIFIED ==" "$W/run1.out" || fail "no verdict"
grep -q "platform  development" "$W/run1.out" || fail "the platform is not said to be development"
for f in proof.json outputs/model.safetensors outputs/metrics.json policy.yaml; do
	[ -f "$W/run1/$f" ] || fail "missing $f"
done
expect_exit 0 "$W/verify1.out" "$AICERT" verify "$W/run1/proof.json" \
	--policy "$W/run1/policy.yaml" --model "$W/run1/outputs"
python3 - "$W/run1/proof.json" "$EX" <<'PY' || fail "inputs in the proof"
import hashlib, json, os, sys
proof, ex = sys.argv[1], sys.argv[2]
deps = json.load(open(proof))["statement"]["predicate"]["buildDefinition"]["resolvedDependencies"]
def sha(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()
def manifest(d):
    files = sorted(os.path.relpath(os.path.join(a, f), d).encode()
                   for a, _, fs in os.walk(d) for f in fs)
    lines = b"".join(sha(os.path.join(d.encode(), p)).encode() + b"  " + p + b"\n" for p in files)
    return hashlib.sha256(lines).hexdigest()
want = {"base_model": sha(f"{ex}/base.safetensors"), "train": sha(f"{ex}/train.csv"),
        "eval": sha(f"{ex}/eval.csv"), "code": manifest(f"{ex}/src")}
got = {d["name"]: d["digest"]["sha256"] for d in deps}
assert got == want, (got, want)
PY
# sha256sum agrees too: for the files, and for the code directory (its
# manifest's digest, computed as docs/proof-format.md says).
for f in base.safetensors train.csv eval.csv; do
	grep -q "$(sha256sum "$EX/$f" | cut -d' ' -f1)" "$W/run1/proof.json" || fail "$f digest"
done
code_digest=$(cd "$EX/src" && find . -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0r sha256sum -- | sha256sum | cut -d' ' -f1)
grep -q "$code_digest" "$W/run1/proof.json" || fail "code directory digest"
no_leftovers

step "2. one changed byte of the weights"
printf '\x01' | dd of="$W/run1/outputs/model.safetensors" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_exit 1 "$W/verify2.out" "$AICERT" verify "$W/run1/proof.json" \
	--policy "$W/run1/policy.yaml" --model "$W/run1/outputs"
grep -q "REJECTED by model.files" "$W/verify2.out" || { cat "$W/verify2.out"; fail "not model.files"; }

step "3. a command that goes for the agent and the TPM"
# shellcheck disable=SC2016 # expanded by the command's shell, not here
PROBE='for d in '"$W"'/aicert-runner.*/runner; do
  ls -A "$d" | grep . && echo FOUND-FILES;
  for s in agent.sock executor.sock tpm.sock; do test -e "$d/$s" && echo "FOUND $s"; done;
  TPM2TOOLS_TCTI="swtpm:path=$d/tpm.sock" tpm2_pcrextend 14:sha256=0000000000000000000000000000000000000000000000000000000000000000 2>/dev/null && echo EXTENDED;
done; ls /dev/tpm* 2>/dev/null && echo FOUND-DEV;
echo "probed $d"; mkdir -p outputs && echo probed > outputs/result.txt'
write_job probe "[sh, -c, '$(printf '%s' "$PROBE" | sed "s/'/''/g")']" 1m
expect_exit 0 "$W/probe.out" "$AICERT" run "$W/probe/job.yaml" --out "$W/probe/run"
! grep -q "FOUND\|EXTENDED" "$W/probe/run/training.log" || { cat "$W/probe/run/training.log"; fail "the command reached the TPM or the agent"; }
grep -q "probed .*/aicert-runner\.[A-Za-z0-9]*/runner$" "$W/probe/run/training.log" || { cat "$W/probe/run/training.log"; fail "the probe did not look"; }
grep -q "runtime.events .*3 inputs, 1 outputs" "$W/probe.out" || { cat "$W/probe.out"; fail "unexpected events"; }
no_leftovers

step "4. a failing command"
write_job failing "[sh, -c, 'echo about to fail; echo boom >&2; exit 3']" 1m
expect_exit 1 "$W/failing.out" "$AICERT" run "$W/failing/job.yaml" --out "$W/failing/run"
grep -q "failed with exit status 3" "$W/failing.out" || fail "no exit status in the message"
grep -q boom "$W/failing/run/training.log" || fail "the command's output was not kept"
if [ -e "$W/failing/run/proof.json" ] || [ -e "$W/failing/run/outputs" ]; then
	fail "a failed run left a proof or outputs"
fi
no_leftovers

step "5. a command past its timeout"
write_job slow "[sh, -c, 'sleep 300 & sleep 300']" 2s
expect_exit 1 "$W/slow.out" "$AICERT" run "$W/slow/job.yaml" --out "$W/slow/run"
grep -q "past its timeout" "$W/slow.out" || fail "no timeout message"
[ ! -e "$W/slow/run/proof.json" ] || fail "a timed-out run left a proof"
no_leftovers

step "6. Ctrl-C during training"
write_job interrupted "[sh, -c, 'echo started; sleep 300']" 10m
"$AICERT" run "$W/interrupted/job.yaml" --out "$W/interrupted/run" >"$W/int.out" 2>&1 &
PID=$!
for _ in $(seq 600); do grep -q started "$W/int.out" 2>/dev/null && break; sleep 0.1; done
grep -q started "$W/int.out" || { cat "$W/int.out"; fail "the command did not start"; }
kill -INT $PID
got=0; wait $PID || got=$?
[ "$got" = 130 ] || { cat "$W/int.out"; fail "exit $got after SIGINT, expected 130"; }
[ ! -e "$W/interrupted/run/proof.json" ] || fail "an interrupted run left a proof"
no_leftovers

step "7. bad job files"
bad() { # bad NAME EXPECTED-SUBSTRING YAML
	printf '%s\n' "$3" >"$W/bad-$1.yaml"
	expect_exit 2 "$W/bad-$1.out" "$AICERT" run "$W/bad-$1.yaml" --out "$W/bad-$1"
	grep -q "bad-$1.yaml:[0-9]*:[0-9]*: .*$2" "$W/bad-$1.out" || { cat "$W/bad-$1.out"; fail "bad-$1: no file:line:col error with '$2'"; }
	[ ! -e "$W/bad-$1" ] || fail "bad-$1: something was created before the job file was checked"
}
HEAD="version: 1
name: bad
runner: {backend: local}"
TAIL="training: {command: [true], timeout: 1m}
outputs: {dir: outputs}
proof: {path: p.json}"
bad unknown-key "colour" "$HEAD
colour: blue
inputs: {code: {path: $EX/src}}
$TAIL"
bad wrong-type "timeout" "$HEAD
inputs: {code: {path: $EX/src}}
training: {command: [true], timeout: [1m]}
outputs: {dir: outputs}
proof: {path: p.json}"
bad short-commit "commit" "$HEAD
inputs: {code: {git: {repo: https://example.org/x.git, commit: abc123}}}
$TAIL"
bad escape "outputs.dir" "$HEAD
inputs: {code: {path: $EX/src}}
training: {command: [true], timeout: 1m}
outputs: {dir: ../../etc}
proof: {path: p.json}"
bad missing "training" "$HEAD
inputs: {code: {path: $EX/src}}
outputs: {dir: outputs}
proof: {path: p.json}"
bad missing-input "no-such-dir" "$HEAD
inputs: {code: {path: $W/no-such-dir}}
$TAIL"
no_leftovers

step "8. a full disk"
if [ "$(id -u)" = 0 ] && mkdir -p "$W/small" && mount -t tmpfs -o size=8m,mode=0755 tmpfs "$W/small" 2>/dev/null; then
	MOUNTS+=("$W/small")
	# In the runner: a 16 MiB input does not fit its 8 MiB file system.
	head -c $((16 << 20)) /dev/urandom >"$W/big.bin"
	write_job fullrunner "[sh, -c, 'mkdir -p outputs; echo x > outputs/x']" 1m
	sed -i "s|^    - {name: train, path: .*|    - {name: big, path: $W/big.bin}|" "$W/fullrunner/job.yaml"
	TMPDIR=$W/small expect_exit 1 "$W/fullrunner.out" "$AICERT" run "$W/fullrunner/job.yaml" --out "$W/fullrunner/run"
	grep -q "No space left on device" "$W/fullrunner.out" || { cat "$W/fullrunner.out"; fail "no disk-full message (runner)"; }
	grep -q "training:" "$W/fullrunner.out" && fail "the command ran without its input"
	[ ! -e "$W/fullrunner/run/proof.json" ] || fail "a proof after a full disk"
	# In --out: 4 MiB of outputs do not fit in 1 MiB.
	mkdir -p "$W/tiny" && mount -t tmpfs -o size=1m tmpfs "$W/tiny" && MOUNTS+=("$W/tiny")
	write_job fullout "[sh, -c, 'mkdir -p outputs; head -c 4194304 /dev/zero > outputs/weights.bin']" 1m
	expect_exit 1 "$W/fullout.out" "$AICERT" run "$W/fullout/job.yaml" --out "$W/tiny/run"
	grep -q "No space left on device" "$W/fullout.out" || { cat "$W/fullout.out"; fail "no disk-full message (--out)"; }
	for f in proof.json outputs .outputs.partial .policy.yaml.partial; do
		[ ! -e "$W/tiny/run/$f" ] || fail "a full --out kept $f"
	done
	for f in "$W/tiny/run"/* "$W/tiny/run"/.[!.]*; do
		[ ! -e "$f" ] || [ "${f##*/}" = training.log ] || fail "debris in --out: $f"
	done
	no_leftovers
else
	echo "skipped: needs root to mount small file systems"
fi
step "9. links and a FIFO planted by the command"
mkdir -p "$W/secret" && echo "not for the job" >"$W/secret/key" && chmod 0700 "$W/secret"
write_job links "[sh, -c, 'ln -s $W/secret out']" 1m
sed -i 's|^  dir: outputs$|  dir: out/x|' "$W/links/job.yaml"
expect_exit 1 "$W/links.out" "$AICERT" run "$W/links/job.yaml" --out "$W/links/run"
grep -q "outputs.dir: out/x: .*symbolic link" "$W/links.out" || { cat "$W/links.out"; fail "the linked outputs.dir was not refused"; }
if [ -e "$W/links/run/proof.json" ] || [ -e "$W/links/run/outputs" ]; then
	fail "a proof or outputs through a link"
fi
write_job fifo "[sh, -c, 'mkfifo m.json; mkdir -p outputs; echo ok > outputs/ok']" 1m
sed -i 's|^  network: none$|  network: none\n  metrics: m.json|' "$W/fifo/job.yaml"
expect_exit 0 "$W/fifo.out" timeout 120 "$AICERT" run "$W/fifo/job.yaml" --out "$W/fifo/run"
grep -q "compute   0 FLOPs" "$W/fifo.out" || { cat "$W/fifo.out"; fail "a FIFO metrics file was read"; }
no_leftovers
echo "all run_cli cases passed"
