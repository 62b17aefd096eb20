#!/usr/bin/env bash
# run.sh [BUILD_DIR]: the Quote benchmark, end to end, on this machine.
#
# Starts a hermetic swtpm (tests/harness/swtpm.sh), makes TLS material for the
# agent's network listener (tests/harness/tls.sh: ECDSA P-256, an agent CA
# issuing the agent's server certificate for 127.0.0.1, a controller CA
# issuing the client certificate) and bare nng echo servers in a process of
# their own (bench_quote echo). Then it runs bench_quote's phases in rounds:
# swtpm has no resource manager, so the agent and the bench's own ESAPI
# context take turns on the TPM, and alternating lets load from elsewhere on
# the machine hit the baselines and the agent alike:
#
#   direct ecc    no agent running: tpm_quote() in the bench process, and the
#                 "ideal agent" (a bare nng server thread calling tpm_quote)
#   BENCH_ROUNDS times:
#     rpc ecc     aicert-agent (ECC AK) started: bare nng round trips, agent
#                 Quote and Identity over ipc:// and tls+tcp:// (1 client,
#                 interleaved), then 4 and 16 clients; agent stopped
#     direct ecc  the TPM alone again
#   the same with an RSA-2048 AK, ipc:// only, fewer calls (BENCH_RSA=0 skips)
#   report        the table and the ratios, on stdout
#
# Environment: BENCH_ITERS (default 2000 calls per case), BENCH_ROUNDS (4),
# BENCH_RSA_ITERS (500), BENCH_RSA_ROUNDS (2), BENCH_CLIENTS (1,4,16),
# BENCH_RESULTS=FILE keeps the raw samples. Progress goes to stderr.
# Everything started here is stopped on exit, however it exits.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
BENCH=$BUILD/bench/bench_quote
AGENT=$BUILD/agent/aicert-agent
ITERS=${BENCH_ITERS:-2000}
ROUNDS=${BENCH_ROUNDS:-4}
RSA_ITERS=${BENCH_RSA_ITERS:-500}
RSA_ROUNDS=${BENCH_RSA_ROUNDS:-2}
CLIENTS=${BENCH_CLIENTS:-1,4,16}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/aicert-bench.XXXXXX")
RESULTS=$WORK/results
AGENT_PID=
ECHO_PID=

for f in "$BENCH" "$AGENT"; do
	[ -x "$f" ] || { echo "run.sh: $f missing: build first (./deploy/dev.sh build)" >&2; exit 1; }
done

stop_agent() {
	if [ -n "$AGENT_PID" ]; then
		kill -TERM "$AGENT_PID" 2>/dev/null || true
		wait "$AGENT_PID" 2>/dev/null || true
		AGENT_PID=
	fi
}

cleanup() {
	stop_agent
	if [ -n "$ECHO_PID" ]; then
		kill -TERM "$ECHO_PID" 2>/dev/null || true
		wait "$ECHO_PID" 2>/dev/null || true
	fi
	"$ROOT/tests/harness/swtpm.sh" stop "$WORK/tpm" >/dev/null 2>&1 || true
	if [ -n "${BENCH_RESULTS:-}" ] && [ -f "$RESULTS" ]; then
		cp "$RESULTS" "$BENCH_RESULTS"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port: a port below the ephemeral range. The swtpm TCTI opens a TCP
# connection per TPM command, so at a thousand quotes a second tens of
# thousands of ephemeral ports sit in TIME_WAIT, and nng's listener (no
# SO_REUSEADDR) cannot bind any of them.
free_port() {
	local low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	[ "$low" -gt 12000 ] || low=32768
	echo $((10000 + RANDOM % (low - 11000)))
}

# start_agent LABEL ALG: starts the agent on a free port and waits for its
# "ready" line.
start_agent() {
	local label=$1 alg=$2 try i
	for ((try = 0; try < 5; try++)); do
		PORT=$(free_port)
		"$AGENT" --tcti "$TCTI" --state-dir "$WORK/agent-$label" --ak-alg "$alg" \
			--local "ipc://$WORK/agent.sock" --listen "tls+tcp://127.0.0.1:$PORT" \
			--tls-cert "$WORK/tls/agent.crt" --tls-key "$WORK/tls/agent.key" \
			--tls-ca "$WORK/tls/controller-ca.crt" --boot-log "" \
			2>"$WORK/agent-$label.log" &
		AGENT_PID=$!
		for ((i = 0; i < 300; i++)); do
			grep -q "ready" "$WORK/agent-$label.log" 2>/dev/null && return 0
			kill -0 "$AGENT_PID" 2>/dev/null || break
			sleep 0.05
		done
		wait "$AGENT_PID" 2>/dev/null || true
		AGENT_PID=
		grep -qi "address in use" "$WORK/agent-$label.log" || break
	done
	echo "run.sh: aicert-agent did not start:" >&2
	cat "$WORK/agent-$label.log" >&2
	exit 1
}

# start_echo: bare nng echo servers in a process of their own (the baseline
# for a call that crosses processes, as one to the agent does).
start_echo() {
	local i
	"$BENCH" echo --results "$RESULTS" --work "$WORK" --srv-cert "$WORK/tls/agent.crt" \
		--srv-key "$WORK/tls/agent.key" --srv-ca "$WORK/tls/controller-ca.crt" &
	ECHO_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -s "$WORK/echo.urls" ] && break
		kill -0 "$ECHO_PID" 2>/dev/null || { echo "run.sh: bench_quote echo failed" >&2; exit 1; }
		sleep 0.05
	done
	ECHO_IPC=$(sed -n 's/^ipc //p' "$WORK/echo.urls")
	ECHO_TLS=$(sed -n 's/^tls //p' "$WORK/echo.urls")
}

# rpc_phase LABEL EXTRA...: bench_quote rpc against the running agent.
rpc_phase() {
	local label=$1
	shift
	"$BENCH" rpc --results "$RESULTS" --label "$label" --ipc "ipc://$WORK/agent.sock" \
		--tls-cert "$WORK/tls/controller.crt" --tls-key "$WORK/tls/controller.key" \
		--tls-ca "$WORK/tls/agent-ca.crt" --work "$WORK" --echo-ipc "$ECHO_IPC" "$@"
}

# direct_phase LABEL ALG ITERS TLS: bench_quote direct (the TPM alone, and the
# ideal agent over ipc://, and tls+tcp:// if TLS is "tls"); no agent may be
# running.
direct_phase() {
	local tls_args=()
	[ "$4" = tls ] && tls_args=(--srv-cert "$WORK/tls/agent.crt" --srv-key "$WORK/tls/agent.key"
		--srv-ca "$WORK/tls/controller-ca.crt")
	"$BENCH" direct --results "$RESULTS" --label "$1" --ak-alg "$2" --iters "$3" --warmup 50 \
		--tcti "$TCTI" --state-dir "$WORK/direct-$1" --work "$WORK" \
		--tls-cert "$WORK/tls/controller.crt" --tls-key "$WORK/tls/controller.key" \
		--tls-ca "$WORK/tls/agent-ca.crt" "${tls_args[@]}"
}

# rounds LABEL ALG ROUNDS ITERS TLS CLIENTS: the TPM alone, then ROUNDS times
# the agent and the TPM alone again, ITERS calls per case in all.
rounds() {
	local label=$1 alg=$2 n=$3 iters=$(($4 / $3)) tls=$5 clients=$6 k
	local tls_args=()
	direct_phase "$label" "$alg" "$iters" "$tls"
	for ((k = 1; k <= n; k++)); do
		start_agent "$label" "$alg"
		if [ "$tls" = tls ]; then
			tls_args=(--tls "tls+tcp://127.0.0.1:$PORT" --srv-cert "$WORK/tls/agent.crt"
				--srv-key "$WORK/tls/agent.key" --srv-ca "$WORK/tls/controller-ca.crt"
				--echo-tls "$ECHO_TLS")
		fi
		rpc_phase "$label" --iters "$iters" --warmup 50 --clients "$clients" "${tls_args[@]}"
		stop_agent
		direct_phase "$label" "$alg" "$iters" "$tls"
	done
}

echo "run.sh: swtpm, TLS material and the agent in $WORK" >&2
"$ROOT/tests/harness/swtpm.sh" start "$WORK/tpm" --owner $$
# shellcheck disable=SC1091
. "$WORK/tpm/env"
"$ROOT/tests/harness/tls.sh" "$WORK/tls"
: >"$RESULTS"
start_echo

rounds ecc ecc "$ROUNDS" "$ITERS" tls "$CLIENTS"
if [ "${BENCH_RSA:-1}" = 1 ]; then
	rounds rsa rsa "$RSA_ROUNDS" "$RSA_ITERS" no-tls 1,4
fi
"$BENCH" report --results "$RESULTS" --clients "$CLIENTS"
