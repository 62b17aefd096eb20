#!/usr/bin/env bash
# `aicert run` end to end with inputs the executor fetches itself (agent/fetch.c),
# served by tests/harness/https_server.py on 127.0.0.1 with a certificate from
# a CA made here (tests/harness/tls.sh), which `--ca-file` tells the runner to
# trust:
#  1. a url input with its sha256, the code from a local git repository at its
#     first commit and a dataset from a subdirectory of it: the command sees
#     the first commit's files, and the proof records the URL and git+REPO@COMMIT
#     (#subdirectory=SUB) with digests equal to sha256sum's / the tree's root;
#  2. a url input without sha256: the digest of what came is recorded;
#  3. a git repository over https (dumb HTTP): git+https://...@COMMIT;
#  4. a url whose sha256 is wrong: exit 1 before the command, nothing left;
#  5. a git commit the repository does not have: exit 1 before the command;
#  6. a url that answers 404: exit 1 before the command;
#  7. without --ca-file the server is not trusted: exit 1, no proof.
# Usage: test_run_fetch.sh BUILD_DIR   (KEEP=1 keeps the work directory)
set -euo pipefail
BUILD=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AICERT=$BUILD/controller/aicert
W=$(mktemp -d "${TMPDIR:-/tmp}/aicert-run-fetch.XXXXXX")
chmod 0755 "$W" # the command (nobody, when we are root) may look for the runner
export TMPDIR=$W # runners go here: leftovers are easy to find
SERVER=
cleanup() {
	if [ -n "$SERVER" ]; then
		kill "$SERVER" 2>/dev/null || true
		wait "$SERVER" 2>/dev/null || true
	fi
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
LEFTOVER_IGNORE=https_server.py
# The test's own git: no configuration of the user's.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
GIT=(git -c user.name=t -c user.email=t@t)

# TLS material: the server's certificate (127.0.0.1) chains to agent-ca.crt.
"$ROOT/tests/harness/tls.sh" "$W/tls" || fail "tls.sh"
CA=$W/tls/agent-ca.crt

# A local repository with two commits; its bare clone is served as repo.git.
# Commit 1: a.txt, sub/b.txt, sub/deep/c.bin; commit 2 changes a.txt and
# sub/b.txt and adds new.txt and sub/new.txt.
REPO=$W/repo
mkdir -p "$REPO/sub/deep" "$W/www"
(
	cd "$REPO"
	git init -q -b main .
	printf 'one\n' >a.txt
	printf 'b-first\n' >sub/b.txt
	head -c 5000 /dev/urandom >sub/deep/c.bin
	chmod +x sub/deep/c.bin
	"${GIT[@]}" add -A
	"${GIT[@]}" commit -q -m one
	printf 'two\n' >a.txt
	printf 'b-second\n' >sub/b.txt
	printf 'new\n' >new.txt
	printf 'new\n' >sub/new.txt
	"${GIT[@]}" add -A
	"${GIT[@]}" commit -q -m two
) || fail "making the repository"
C1=$(git -C "$REPO" rev-parse HEAD~1)
git clone -q --bare "$REPO" "$W/www/repo.git"
git -C "$W/www/repo.git" update-server-info
# The first commit's trees, as git has them, for the expected digests.
mkdir -p "$W/c1-all" "$W/c1-sub"
git -C "$REPO" archive "$C1" | tar -x -C "$W/c1-all"
git -C "$REPO" archive "$C1" sub | tar -x -C "$W/c1-sub"

# Files to download.
head -c 100000 /dev/urandom >"$W/www/data.bin"
printf 'a tokenizer\n' >"$W/www/tok.json"
DATA_SHA=$(sha256sum "$W/www/data.bin" | cut -d' ' -f1)
TOK_SHA=$(sha256sum "$W/www/tok.json" | cut -d' ' -f1)

python3 "$ROOT/tests/harness/https_server.py" --dir "$W/www" --cert "$W/tls/agent.crt" \
	--key "$W/tls/agent.key" --port-file "$W/port" &
SERVER=$!
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
[ -s "$W/port" ] || fail "the https server did not start"
PORT=$(cat "$W/port")
BASE=https://127.0.0.1:$PORT

# A local code directory for the cases whose code is not under test.
mkdir -p "$W/code"
printf 'code\n' >"$W/code/README"

# write_job NAME COMMAND INPUTS: a job file $W/NAME/job.yaml whose inputs
# mapping is INPUTS (YAML lines indented by two).
write_job() {
	mkdir -p "$W/$1"
	cat >"$W/$1/job.yaml" <<YAML
version: 1
name: $1
runner: {backend: local}
inputs:
$3
training:
  command: $2
  env: {PATH: /usr/local/bin:/usr/bin:/bin}
  timeout: 1m
  network: none
outputs:
  dir: outputs
proof:
  path: proof.json
YAML
}
# run_ok NAME: runs job NAME with the test CA; exit 0 and VERIFIED.
run_ok() {
	expect_exit 0 "$W/$1.out" "$AICERT" run "$W/$1/job.yaml" --out "$W/$1/run" --ca-file "$CA"
	grep -q "== aicert run: VERIFIED ==" "$W/$1.out" || { cat "$W/$1.out"; fail "$1: no verdict"; }
	[ -f "$W/$1/run/proof.json" ] || fail "$1: no proof"
}
# run_fails NAME PATTERN [ARGS...]: exit 1 before the command ran, PATTERN in
# the message, no proof, no outputs, nothing left behind.
run_fails() {
	local name=$1 pat=$2
	shift 2
	expect_exit 1 "$W/$name.out" "$AICERT" run "$W/$name/job.yaml" --out "$W/$name/run" "$@"
	grep -qi -- "$pat" "$W/$name.out" || { cat "$W/$name.out"; fail "$name: no '$pat' in the message"; }
	! grep -q "training:" "$W/$name.out" || { cat "$W/$name.out"; fail "$name: the command ran"; }
	[ ! -s "$W/$name/run/training.log" ] || { cat "$W/$name/run/training.log"; fail "$name: the command ran"; }
	if [ -e "$W/$name/run/proof.json" ] || [ -e "$W/$name/run/outputs" ]; then
		fail "$name: a failed run left a proof or outputs"
	fi
	no_leftovers
}
# check_deps PROOF NAME=URI:DIGEST:FILES:SIZE...: the proof's inputs are
# exactly these.
check_deps() {
	python3 - "$@" <<'PY' || fail "inputs in the proof of $1"
import json, sys
deps = json.load(open(sys.argv[1]))["statement"]["predicate"]["buildDefinition"]["resolvedDependencies"]
got = {d["name"]: (d["uri"], d["digest"]["sha256"], str(d["annotations"]["files"]),
                  str(d["annotations"]["size"])) for d in deps}
want = {}
for a in sys.argv[2:]:
    name, rest = a.split("=", 1)
    want[name] = tuple(rest.rsplit(":", 3))
assert got == want, (got, want)
PY
}
# tree DIR: DIGEST:FILES:SIZE of a directory as the proof records it: the
# digest is that of its sha256sum manifest, computed with the command
# docs/proof-format.md gives; the size is the sum of the files' sizes.
tree() {
	local digest files size
	digest=$(cd "$1" && find . -type f -printf '%P\0' | LC_ALL=C sort -z |
		xargs -0r sha256sum -- | sha256sum | cut -d' ' -f1)
	files=$(find "$1" -type f | wc -l)
	size=$(find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
	echo "$digest:$files:$size"
}

step "1. a pinned url, and the code and a subdirectory from a local git repository"
write_job one "[sh, -c, 'ls -R inputs > /dev/null; mkdir -p outputs; cat a.txt inputs/ds/b.txt inputs/tok > outputs/out.txt; test -x inputs/ds/deep/c.bin; test ! -e new.txt; test ! -e inputs/ds/new.txt; test ! -e inputs/ds/sub; test ! -e .git']" \
	"  code: {git: {repo: $REPO, commit: $C1}}
  datasets:
    - {name: ds, git: {repo: $REPO, commit: $C1, path: sub}}
  files:
    - {name: tok, url: $BASE/tok.json, sha256: $TOK_SHA}"
run_ok one
printf 'one\nb-first\na tokenizer\n' | cmp -s - "$W/one/run/outputs/out.txt" ||
	{ cat "$W/one/run/outputs/out.txt" "$W/one/run/training.log"; fail "the command did not see the first commit's files"; }
check_deps "$W/one/run/proof.json" \
	"code=git+$REPO@$C1:$(tree "$W/c1-all")" \
	"ds=git+$REPO@$C1#subdirectory=sub:$(tree "$W/c1-sub/sub")" \
	"tok=$BASE/tok.json:$TOK_SHA:1:12"
no_leftovers

step "2. a url without sha256"
write_job two "[sh, -c, 'mkdir -p outputs; sha256sum inputs/data > outputs/out.txt']" \
	"  code: {path: $W/code}
  datasets:
    - {name: data, url: $BASE/data.bin}"
run_ok two
grep -q "^$DATA_SHA " "$W/two/run/outputs/out.txt" || fail "the command did not see the download"
check_deps "$W/two/run/proof.json" "code=$W/code:$(tree "$W/code")" \
	"data=$BASE/data.bin:$DATA_SHA:1:100000"
no_leftovers

step "3. a git repository over https"
write_job three "[sh, -c, 'mkdir -p outputs; cat inputs/ds/a.txt inputs/ds/sub/b.txt > outputs/out.txt; test ! -e inputs/ds/new.txt']" \
	"  code: {path: $W/code}
  datasets:
    - {name: ds, git: {repo: $BASE/repo.git, commit: $C1}}"
run_ok three
printf 'one\nb-first\n' | cmp -s - "$W/three/run/outputs/out.txt" || fail "the command did not see the first commit"
check_deps "$W/three/run/proof.json" "code=$W/code:$(tree "$W/code")" \
	"ds=git+$BASE/repo.git@$C1:$(tree "$W/c1-all")"
no_leftovers

step "4. a url whose sha256 is wrong"
BAD_SHA=$(printf 'not it' | sha256sum | cut -d' ' -f1)
write_job four "[sh, -c, 'mkdir -p outputs; echo ran > outputs/out.txt']" \
	"  code: {path: $W/code}
  files:
    - {name: tok, url: $BASE/tok.json, sha256: $BAD_SHA}"
run_fails four "$BASE/tok.json" --ca-file "$CA"
if ! grep -q "SHA-256.*$TOK_SHA" "$W/four.out" || ! grep -q "$BAD_SHA" "$W/four.out"; then
	cat "$W/four.out"
	fail "four: the mismatch is not named"
fi

step "5. a git commit the repository does not have"
write_job five "[sh, -c, 'mkdir -p outputs; echo ran > outputs/out.txt']" \
	"  code: {path: $W/code}
  datasets:
    - {name: ds, git: {repo: $REPO, commit: 0123456789abcdef0123456789abcdef01234567}}"
run_fails five "not found" --ca-file "$CA"

step "6. a url that answers 404"
write_job six "[sh, -c, 'mkdir -p outputs; echo ran > outputs/out.txt']" \
	"  code: {path: $W/code}
  files:
    - {name: gone, url: $BASE/no-such-file.bin}"
run_fails six "no-such-file.bin.*404" --ca-file "$CA"

step "7. without --ca-file the server is not trusted"
write_job seven "[sh, -c, 'mkdir -p outputs; echo ran > outputs/out.txt']" \
	"  code: {path: $W/code}
  files:
    - {name: tok, url: $BASE/tok.json, sha256: $TOK_SHA}"
run_fails seven "certificate\|tls\|ssl"

echo "all run_fetch cases passed"
