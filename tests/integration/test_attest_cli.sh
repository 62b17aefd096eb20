#!/usr/bin/env bash
# The attestation path through the CLI, against a real swtpm and agent:
# ca init, enroll, attest, policy init, verify (and its exit codes), show,
# and the proof's quote exported and checked by tpm2_checkquote.
# Usage: test_attest_cli.sh BUILD_DIR
set -euo pipefail
BUILD=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AICERT=$BUILD/controller/aicert
W=$(mktemp -d "${TMPDIR:-/tmp}/aicert-attest-cli.XXXXXX")
AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	"$ROOT/tests/harness/swtpm.sh" stop "$W/tpm" >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_exit() { # expect_exit CODE CMD...
	local want=$1 got=0
	shift
	"$@" >"$W/out" 2>&1 || got=$?
	[ "$got" = "$want" ] || { cat "$W/out"; fail "exit $got, expected $want: $*"; }
}

"$ROOT/tests/harness/swtpm.sh" start "$W/tpm" --owner $$ >/dev/null
# shellcheck disable=SC1091
. "$W/tpm/env"
SOCK=ipc://$W/agent.sock
"$BUILD/agent/aicert-agent" --tcti "$TCTI" --state-dir "$W/state" --local "$SOCK" --boot-log "" \
	2>"$W/agent.log" &
AGENT_PID=$!
for _ in $(seq 100); do grep -q ready "$W/agent.log" && break; sleep 0.1; done

"$AICERT" ca init --dir "$W/ca" >/dev/null
# Enrollment refuses EK certificates from a CA the caller does not trust.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other \
	-keyout "$W/other.key" -out "$W/other.crt" -days 1 2>/dev/null
expect_exit 1 "$AICERT" enroll --agent "$SOCK" --ca "$W/ca" --ek-roots "$W/other.crt"
expect_exit 0 "$AICERT" enroll --agent "$SOCK" --ca "$W/ca" --ek-roots "$EK_ROOT" \
	--ek-intermediates "$EK_ISSUER"
expect_exit 0 "$AICERT" attest --agent "$SOCK" --ca "$W/ca" --out "$W/proof.json"
expect_exit 0 "$AICERT" policy init --ek-roots "$EK_ROOT" --ek-intermediates "$EK_ISSUER" \
	--ak-ca "$W/ca/ca.crt" --allow-development --out "$W/policy.yaml"

expect_exit 0 "$AICERT" verify "$W/proof.json" --policy "$W/policy.yaml"
grep -q "VERIFIED on a development platform" "$W/out" || fail "no verdict"
# Never the policy.yaml beside the proof (whoever ships a proof would choose
# the anchors); $AICERT_POLICY is the verifier's own default.
expect_exit 2 env HOME="$W/nohome" AICERT_POLICY= "$AICERT" verify "$W/proof.json"
grep -q "no policy" "$W/out" || fail "a policy beside the proof was used"
expect_exit 0 env AICERT_POLICY="$W/policy.yaml" "$AICERT" verify "$W/proof.json"
expect_exit 0 "$AICERT" verify "$W/proof.json" --policy "$W/policy.yaml" --json
grep -q '"verified": true' "$W/out" || fail "JSON verdict"

# Unusable input: 2. Rejections: 1, with the check's name.
expect_exit 2 "$AICERT" verify "$W/proof.json" --policy "$W/nonexistent.yaml"
expect_exit 2 "$AICERT" verify
head -c 1000 "$W/proof.json" >"$W/truncated.json"
expect_exit 1 "$AICERT" verify "$W/truncated.json" --policy "$W/policy.yaml"
grep -q "REJECTED by proof.format" "$W/out" || fail "truncated proof"
sed 's/"platform": "development"/"platform": "measured"/' "$W/proof.json" >"$W/measured.json"
expect_exit 1 "$AICERT" verify "$W/measured.json" --policy "$W/policy.yaml"
grep -q "REJECTED by platform" "$W/out" || fail "claimed platform"
sed 's/allow_development: true/allow_development: false/' "$W/policy.yaml" >"$W/strict.yaml"
expect_exit 1 "$AICERT" verify "$W/proof.json" --policy "$W/strict.yaml"
grep -q "REJECTED by platform" "$W/out" || fail "development refused"
expect_exit 1 "$AICERT" verify "$W/proof.json" --policy "$W/policy.yaml" \
	--nonce 00112233445566778899aabbccddeeff
grep -q "REJECTED by quote.nonce" "$W/out" || fail "verifier's own nonce"

# A nonce of the verifier's choosing, carried and checked.
NONCE=$(openssl rand -hex 32)
expect_exit 0 "$AICERT" attest --agent "$SOCK" --ca "$W/ca" --out "$W/fresh.json" --nonce "$NONCE"
expect_exit 0 "$AICERT" verify "$W/fresh.json" --policy "$W/policy.yaml" --nonce "$NONCE"

# The quote inside the proof, checked by a verifier nobody here wrote.
expect_exit 0 "$AICERT" show "$W/proof.json"
grep -q "platform (claimed): development" "$W/out" || fail "show"
expect_exit 0 "$AICERT" show "$W/proof.json" --export-quote "$W/q"
Q=$(sed -n 's/.* -q \([0-9a-f]*\)$/\1/p' "$W/out")
[ ${#Q} = 64 ] || fail "no qualifying data printed"
expect_exit 0 tpm2_checkquote -u "$W/q/ak.pub.pem" -m "$W/q/quote.msg" -s "$W/q/quote.sig" \
	-f "$W/q/quote.pcrs" -g sha256 -q "$Q"
expect_exit 1 tpm2_checkquote -u "$W/q/ak.pub.pem" -m "$W/q/quote.msg" -s "$W/q/quote.sig" \
	-f "$W/q/quote.pcrs" -g sha256 -q "$(openssl rand -hex 32)"
echo "test_attest_cli: all checks passed"
