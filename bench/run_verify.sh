#!/usr/bin/env bash
# run_verify.sh BUILD_DIR: makes a platform proof against a hermetic swtpm
# and agent, then runs bench_verify on it (aicert verify against
# tpm2_checkquote on the same quote, in the same run).
set -euo pipefail
BUILD=${1:?usage: run_verify.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AICERT=$BUILD/controller/aicert
W=$(mktemp -d "${TMPDIR:-/tmp}/aicert-bench-verify.XXXXXX")
AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	"$ROOT/tests/harness/swtpm.sh" stop "$W/tpm" >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT
"$ROOT/tests/harness/swtpm.sh" start "$W/tpm" --owner $$ >/dev/null
# shellcheck disable=SC1091
. "$W/tpm/env"
SOCK=ipc://$W/agent.sock
"$BUILD/agent/aicert-agent" --tcti "$TCTI" --state-dir "$W/state" --local "$SOCK" --boot-log "" \
	2>"$W/agent.log" &
AGENT_PID=$!
for _ in $(seq 100); do grep -q ready "$W/agent.log" && break; sleep 0.1; done
"$AICERT" ca init --dir "$W/ca" >/dev/null
"$AICERT" enroll --agent "$SOCK" --ca "$W/ca" --ek-roots "$EK_ROOT" --ek-intermediates "$EK_ISSUER" >/dev/null
"$AICERT" attest --agent "$SOCK" --ca "$W/ca" --out "$W/proof.json" >/dev/null
"$AICERT" policy init --ek-roots "$EK_ROOT" --ek-intermediates "$EK_ISSUER" --ak-ca "$W/ca/ca.crt" \
	--allow-development --out "$W/policy.yaml" >/dev/null
Q=$("$AICERT" show "$W/proof.json" --export-quote "$W/q" | sed -n 's/.* -q \([0-9a-f]*\)$/\1/p')
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true; AGENT_PID=
[ -n "${BENCH_KEEP:-}" ] && cp "$W/proof.json" "$W/policy.yaml" "$BENCH_KEEP/"
"$BUILD/bench/bench_verify" "$W/proof.json" "$W/policy.yaml" "$W/q" "$Q" "${BENCH_ITERS:-2000}"
