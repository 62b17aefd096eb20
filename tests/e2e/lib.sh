# shellcheck shell=bash
# Shared by the e2e scripts (sourced): W is the test's directory.
# fail MSG: the test fails. step TEXT: a case's heading.
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# expect_exit CODE OUTFILE CMD...: CMD exits CODE (its output in OUTFILE).
expect_exit() {
	local want=$1 out=$2 got=0
	shift 2
	"$@" >"$out" 2>&1 || got=$?
	[ "$got" = "$want" ] || { tail -30 "$out"; fail "exit $got, expected $want: $*"; }
}

# no_leftovers: no process names W (but those matching LEFTOVER_IGNORE, a
# test's own server) and no runner directory is left in W.
no_leftovers() {
	local left
	left=$(pgrep -af "$W" | { if [ -n "${LEFTOVER_IGNORE:-}" ]; then grep -v -- "$LEFTOVER_IGNORE"; else cat; fi; } || true)
	[ -z "$left" ] || fail "processes left behind: $left"
	! ls -d "$W"/aicert-runner.* >/dev/null 2>&1 || fail "a runner directory was left behind"
}
