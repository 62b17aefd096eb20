#!/bin/bash
# test_cli.sh BUILD_DIR: `aicert agent ...` against a running aicert-agent,
# as an operator uses it: every subcommand over the local socket and over
# mutual TLS, the files they write (checked with openssl and tpm2-tools),
# and their exit status on bad input and refused connections.
#
# Starts its own swtpm (tests/harness/swtpm.sh), TLS material
# (tests/harness/tls.sh) and agent in a temporary directory, and stops and
# removes everything on exit. Needs bash, openssl, tpm2-tools; no python.
set -euo pipefail

BUILD=${1:?usage: test_cli.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AICERT=$BUILD/controller/aicert
AGENT=$BUILD/agent/aicert-agent
WORK=$(mktemp -d "${TMPDIR:-/tmp}/aicert-cli.XXXXXX")
AGENT_PID=
CHECKS=0

cleanup() {
	if [ -n "$AGENT_PID" ]; then
		kill -TERM "$AGENT_PID" 2>/dev/null || true
		wait "$AGENT_PID" 2>/dev/null || true
	fi
	"$ROOT/tests/harness/swtpm.sh" stop "$WORK/tpm" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
	echo "test_cli.sh: FAIL: $*" >&2
	[ -s "$WORK/agent.log" ] && sed 's/^/  agent: /' "$WORK/agent.log" >&2
	exit 1
}

ok() {
	CHECKS=$((CHECKS + 1))
	echo "ok $CHECKS - $*"
}

# expect STATUS CMD...: runs CMD, which must exit with STATUS.
expect() {
	local want=$1 got=0
	shift
	"$@" >"$WORK/out" 2>"$WORK/err" || got=$?
	if [ "$got" != "$want" ]; then
		cat "$WORK/out" "$WORK/err" >&2
		fail "exit $got, expected $want: $*"
	fi
}

# start_agent: on a random loopback port, retried when it is taken.
start_agent() {
	local try i
	for ((try = 0; try < 5; try++)); do
		# Below the ephemeral range, where TIME_WAIT ports cannot be bound.
		PORT=$((20001 + 2 * (RANDOM % 6000)))
		"$AGENT" --tcti "$TCTI" --state-dir "$WORK/state" --local "ipc://$WORK/agent.sock" \
			--boot-log "" --listen "tls+tcp://127.0.0.1:$PORT" \
			--tls-cert "$WORK/tls/agent.crt" --tls-key "$WORK/tls/agent.key" \
			--tls-ca "$WORK/tls/controller-ca.crt" </dev/null 2>"$WORK/agent.log" &
		AGENT_PID=$!
		for ((i = 0; i < 200; i++)); do
			grep -q '^<6>ready' "$WORK/agent.log" && return 0
			kill -0 "$AGENT_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -TERM "$AGENT_PID" 2>/dev/null || true
		wait "$AGENT_PID" 2>/dev/null || true
		AGENT_PID=
	done
	fail "the agent did not start"
}

"$ROOT/tests/harness/swtpm.sh" start "$WORK/tpm" --owner $$
# shellcheck disable=SC1091
. "$WORK/tpm/env"
"$ROOT/tests/harness/tls.sh" "$WORK/tls"
start_agent

LOCAL=(--agent "ipc://$WORK/agent.sock")
NET=(--agent "tls+tcp://127.0.0.1:$PORT" --tls-cert "$WORK/tls/controller.crt"
	--tls-key "$WORK/tls/controller.key" --tls-ca "$WORK/tls/agent-ca.crt")
ROGUE=(--agent "tls+tcp://127.0.0.1:$PORT" --tls-cert "$WORK/tls/rogue.crt"
	--tls-key "$WORK/tls/rogue.key" --tls-ca "$WORK/tls/agent-ca.crt" --timeout 1500)

for via in local net; do
	if [ $via = local ]; then DIAL=("${LOCAL[@]}"); else DIAL=("${NET[@]}"); fi

	expect 0 "$AICERT" agent health "${DIAL[@]}"
	grep -q '^version: ' "$WORK/out" || fail "health prints no version"
	ok "health over $via"

	expect 0 "$AICERT" agent identity "${DIAL[@]}" --out "$WORK/id-$via"
	for f in ak.pub.pem ak.pub ak.name ek.pub ek-01c00002.der ek-01c00016.der; do
		[ -s "$WORK/id-$via/$f" ] || fail "identity over $via wrote no $f"
	done
	openssl verify -CAfile "$EK_ROOT" -untrusted "$EK_ISSUER" \
		<(openssl x509 -inform der -in "$WORK/id-$via/ek-01c00002.der") >/dev/null ||
		fail "the RSA EK certificate does not chain to the swtpm CA"
	ok "identity over $via: files written, EK certificate chains to the swtpm CA"

	expect 0 "$AICERT" agent pcrs "${DIAL[@]}" --pcrs 0-9,14,23 --bank sha1
	[ "$(grep -c '^  [0-9][0-9]* *: 0x' "$WORK/out")" = 12 ] || fail "pcrs over $via: not 12 values"
	ok "pcrs over $via: 12 PCRs of the SHA-1 bank"

	NONCE=$(openssl rand -hex 32)
	expect 0 "$AICERT" agent quote "${DIAL[@]}" --nonce "$NONCE" --pcrs 0,8,14 \
		--out "$WORK/quote-$via"
	expect 0 tpm2_checkquote -u "$WORK/quote-$via/ak.pub.pem" -m "$WORK/quote-$via/quote.msg" \
		-s "$WORK/quote-$via/quote.sig" -f "$WORK/quote-$via/quote.pcrs" -g sha256 -q "$NONCE"
	expect 1 tpm2_checkquote -u "$WORK/quote-$via/ak.pub.pem" -m "$WORK/quote-$via/quote.msg" \
		-s "$WORK/quote-$via/quote.sig" -f "$WORK/quote-$via/quote.pcrs" -g sha256 \
		-q "$(openssl rand -hex 32)"
	cmp -s "$WORK/quote-$via/ak.pub.pem" "$WORK/id-$via/ak.pub.pem" ||
		fail "the quote's AK is not Identity's AK"
	ok "quote over $via: tpm2_checkquote accepts it, and refuses another nonce"

	expect 0 "$AICERT" agent eventlog "${DIAL[@]}" --out "$WORK/ev-$via"
	grep -q '^runtime log: 0 records' "$WORK/out" || fail "eventlog over $via: records?"
	[ -e "$WORK/ev-$via/runtime.cel" ] || fail "eventlog over $via wrote no runtime.cel"
	ok "eventlog over $via"
done

# The CLI refuses bad input before it dials (usage errors: exit 2).
expect 2 "$AICERT" agent quote "${LOCAL[@]}" --pcrs 0,8,14 --out "$WORK/q"
expect 2 "$AICERT" agent quote "${LOCAL[@]}" --nonce zz --pcrs 0 --out "$WORK/q"
expect 2 "$AICERT" agent quote "${LOCAL[@]}" --nonce 00 --pcrs 24 --out "$WORK/q"
expect 2 "$AICERT" agent pcrs "${LOCAL[@]}" --bank md5
expect 2 "$AICERT" agent reboot "${LOCAL[@]}"
expect 2 "$AICERT" agent health --agent "tls+tcp://127.0.0.1:$PORT"
ok "usage errors exit 2"

# A client certificate from another CA gets no answer, and the agent goes on.
expect 1 "$AICERT" agent health "${ROGUE[@]}"
expect 0 "$AICERT" agent health "${NET[@]}"
ok "a client from another CA is refused; the agent serves the next one"

kill -TERM "$AGENT_PID"
status=0
wait "$AGENT_PID" || status=$?
AGENT_PID=
[ "$status" = 0 ] || fail "the agent exited with $status on SIGTERM"
ok "SIGTERM: exit 0"
echo "1..$CHECKS"
