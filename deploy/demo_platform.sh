#!/usr/bin/env bash
# demo_platform.sh BUILD_DIR: an attested platform (no job) on this machine,
# end to end, step by step with the lower-level commands.
#
# Starts a software TPM (swtpm, with its own EK certificate authority) and
# aicert-agent in a temporary directory, asks the agent for its identity, the
# PCRs and a quote over a fresh nonce, and has tpm2_checkquote, a verifier
# nobody here wrote, check the quote; then shows that a wrong nonce fails.
# Then it enrolls the runner with an attestation CA, makes a proof of the
# platform, verifies it offline, and shows a tampered proof rejected.
# Everything it started is stopped on exit. Run through ./deploy/dev.sh demo-platform.
set -euo pipefail

BUILD=${1:?usage: demo_platform.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AICERT=$BUILD/controller/aicert
AGENT=$BUILD/agent/aicert-agent
WORK=$(mktemp -d "${TMPDIR:-/tmp}/aicert-demo.XXXXXX")
AGENT_PID=

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	"$ROOT/tests/harness/swtpm.sh" stop "$WORK/tpm" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

step "a software TPM with an EK certificate from its own local CA"
"$ROOT/tests/harness/swtpm.sh" start "$WORK/tpm" --owner $$
# shellcheck disable=SC1091
. "$WORK/tpm/env"
echo "TPM at $TCTI"

step "aicert-agent owns the TPM"
SOCK="ipc://$WORK/agent.sock"
"$AGENT" --tcti "$TCTI" --state-dir "$WORK/agent-state" --local "$SOCK" --boot-log "" \
	2>"$WORK/agent.log" &
AGENT_PID=$!
for _ in $(seq 100); do
	grep -q "ready" "$WORK/agent.log" 2>/dev/null && break
	kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WORK/agent.log"; exit 1; }
	sleep 0.1
done
cat "$WORK/agent.log"

step "aicert agent health"
"$AICERT" agent health --agent "$SOCK"

step "aicert agent identity"
"$AICERT" agent identity --agent "$SOCK" --out "$WORK/identity"
openssl x509 -inform der -in "$WORK/identity/ek-01c00002.der" -noout -subject -issuer
openssl verify -CAfile "$EK_ROOT" -untrusted "$EK_ISSUER" \
	<(openssl x509 -inform der -in "$WORK/identity/ek-01c00002.der")

step "aicert agent pcrs --pcrs 0,8,14"
"$AICERT" agent pcrs --agent "$SOCK" --pcrs 0,8,14

NONCE=$(openssl rand -hex 32)
step "aicert agent quote --nonce $NONCE --pcrs 0,8,14"
"$AICERT" agent quote --agent "$SOCK" --nonce "$NONCE" --pcrs 0,8,14 --out "$WORK/quote"

step "tpm2_checkquote accepts it"
tpm2_checkquote -u "$WORK/quote/ak.pub.pem" -m "$WORK/quote/quote.msg" \
	-s "$WORK/quote/quote.sig" -f "$WORK/quote/quote.pcrs" -g sha256 -q "$NONCE"

step "and rejects it for another nonce"
if tpm2_checkquote -u "$WORK/quote/ak.pub.pem" -m "$WORK/quote/quote.msg" \
	-s "$WORK/quote/quote.sig" -f "$WORK/quote/quote.pcrs" -g sha256 \
	-q "$(openssl rand -hex 32)" >/dev/null 2>&1; then
	echo "tpm2_checkquote accepted a wrong nonce" >&2
	exit 1
fi
echo "rejected, as it must be"

step "aicert ca init, then aicert enroll: the EK chain, the AK, MakeCredential"
"$AICERT" ca init --dir "$WORK/ca"
"$AICERT" enroll --agent "$SOCK" --ca "$WORK/ca" --ek-roots "$EK_ROOT" --ek-intermediates "$EK_ISSUER"

step "aicert attest: a proof of this platform, bound to a fresh nonce"
"$AICERT" attest --agent "$SOCK" --ca "$WORK/ca" --out "$WORK/proof.json"
"$AICERT" policy init --ek-roots "$EK_ROOT" --ek-intermediates "$EK_ISSUER" \
	--ak-ca "$WORK/ca/ca.crt" --allow-development --out "$WORK/policy.yaml"

step "aicert verify proof.json --policy policy.yaml (offline)"
"$AICERT" verify "$WORK/proof.json" --policy "$WORK/policy.yaml"

step "one PCR value changed in the proof: rejected, and the check named"
sed '0,/"14": "\(.\)/s//"14": "f/' "$WORK/proof.json" >"$WORK/tampered.json"
if "$AICERT" verify "$WORK/tampered.json" --policy "$WORK/policy.yaml" | tail -1; then
	echo "a tampered proof verified" >&2
	exit 1
fi

step "demo complete: the quote and the proof verified; tampering was caught"
