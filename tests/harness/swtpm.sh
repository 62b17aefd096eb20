#!/bin/bash
# swtpm.sh: a hermetic software TPM 2.0 (swtpm) for tests and the demo.
#
# Usage:
#   swtpm.sh start DIR [--owner PID] [--no-startup]
#   swtpm.sh restart DIR
#   swtpm.sh stop DIR
#
# start     Manufactures a new TPM in DIR (which may exist, and should be
#           empty) and starts it on a free pair of loopback TCP ports:
#             DIR/state/                  the TPM's state (swtpm --tpmstate)
#             DIR/ca/                     its own local CA; nothing outside DIR
#                                         is read or written
#             DIR/swtpm_setup.conf, DIR/swtpm-localca.conf,
#             DIR/swtpm-localca.options   the configuration used
#             DIR/setup.log, DIR/swtpm.log
#             DIR/env                     written last, once the TPM answers:
#               TCTI=swtpm:host=127.0.0.1,port=P   (for Tss2_TctiLdr, tpm2-tools -T)
#               PORT=P                             (data port; control is P+1)
#               PID=N                              (the swtpm process)
#               EK_ROOT=DIR/ca/swtpm-localca-rootca-cert.pem
#               EK_ISSUER=DIR/ca/issuercert.pem    (root -> issuer -> EK certs)
#           The TPM has PCR banks SHA-256 and SHA-1, a persistent RSA-2048 EK at
#           0x81010001 and an ECC P-384 EK at 0x81010016, their certificates in
#           NV at 0x01c00002 and 0x01c00016, a platform certificate at
#           0x01c08000, and TPM2_Startup(CLEAR) already done.
#           --owner PID   also stop the TPM (within a second) once process PID
#                         has exited, however it exited: tests pass their own
#                         pid so that a crashed or killed test leaves no swtpm
#                         behind.
#           --no-startup  do not send TPM2_Startup: the first command gets
#                         TPM_RC_INITIALIZE (kept across restarts).
# restart   Stops the TPM and starts it again on the same state and ports: a
#           TPM Reset (resetCount increments, PCRs and transient objects are
#           gone). Rewrites DIR/env (PID changes).
# stop      Stops the TPM (and the owner watcher) and waits until it has exited.
#           DIR and its contents stay; remove it yourself.
#
# Exit status 0 on success; otherwise a message on stderr and status 1.
# Needs bash, swtpm, swtpm_setup, swtpm_localca, setsid; no python.
set -euo pipefail

die() {
	echo "swtpm.sh: $*" >&2
	exit 1
}

# alive_swtpm PID: true if PID is a running swtpm, not a zombie (whose parent,
# after --daemon, is init) and not another program that reused the pid.
alive_swtpm() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	case $stat in
	*" (swtpm) "[!Z]*) return 0 ;;
	*) return 1 ;;
	esac
}

write_config() {
	local dir=$1
	cat >"$dir/swtpm-localca.conf" <<-EOF
		statedir = $dir/ca
		signingkey = $dir/ca/signkey.pem
		issuercert = $dir/ca/issuercert.pem
		certserial = $dir/ca/certserial
	EOF
	cat >"$dir/swtpm-localca.options" <<-EOF
		--platform-manufacturer aicert
		--platform-model swtpm
		--platform-version 2.1
	EOF
	cat >"$dir/swtpm_setup.conf" <<-EOF
		create_certs_tool = $(command -v swtpm_localca)
		create_certs_tool_config = $dir/swtpm-localca.conf
		create_certs_tool_options = $dir/swtpm-localca.options
		active_pcr_banks = sha256,sha1
	EOF
}

manufacture() {
	local dir=$1
	mkdir -p "$dir/state" "$dir/ca"
	write_config "$dir"
	swtpm_setup --tpm2 --tpmstate "$dir/state" --create-ek-cert --create-platform-cert \
		--lock-nvram --config "$dir/swtpm_setup.conf" --logfile "$dir/setup.log" \
		</dev/null >>"$dir/setup.log" 2>&1 ||
		die "swtpm_setup failed, see $dir/setup.log"
}

# run_swtpm DIR PORT FLAGS: starts the daemon; fails if a port is taken.
run_swtpm() {
	local dir=$1 port=$2 flags=$3
	swtpm socket --tpm2 --tpmstate "dir=$dir/state" \
		--server "type=tcp,port=$port,bindaddr=127.0.0.1" \
		--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
		--flags "$flags" --daemon --pid "file=$dir/swtpm.pid" \
		--log "file=$dir/swtpm.log" </dev/null >>"$dir/swtpm.log" 2>&1
}

# wait_ready DIR PORT: the pid file exists and the control channel answers.
wait_ready() {
	local dir=$1 port=$2 i
	for ((i = 0; i < 100; i++)); do
		if [ -s "$dir/swtpm.pid" ] &&
			swtpm_ioctl --tcp "127.0.0.1:$((port + 1))" -c >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# Below the kernel's ephemeral range (32768-60999 here): the TCTI opens a
# connection per command and leaves thousands of ephemeral ports in
# TIME_WAIT, where a listener could not bind.
random_even_port() {
	echo $((20000 + 2 * ((RANDOM * 32768 + RANDOM) % 6000)))
}

write_env() {
	local dir=$1 port=$2
	cat >"$dir/env.tmp" <<-EOF
		TCTI=swtpm:host=127.0.0.1,port=$port
		PORT=$port
		PID=$(cat "$dir/swtpm.pid")
		EK_ROOT=$dir/ca/swtpm-localca-rootca-cert.pem
		EK_ISSUER=$dir/ca/issuercert.pem
	EOF
	mv -f "$dir/env.tmp" "$dir/env"
}

# launch DIR PORT: starts swtpm on PORT, or on a random free pair if PORT is
# empty, and prints the port used.
launch() {
	local dir=$1 port=$2 flags try
	flags=$(cat "$dir/flags")
	for ((try = 0; try < 20; try++)); do
		local p=${port:-$(random_even_port)}
		if run_swtpm "$dir" "$p" "$flags"; then
			wait_ready "$dir" "$p" || die "swtpm on port $p does not answer, see $dir/swtpm.log"
			echo "$p"
			return 0
		fi
		# Taken port: try another pair, or wait for the same one to free up.
		[ -n "$port" ] && sleep 0.1
	done
	die "could not start swtpm (ports busy?), see $dir/swtpm.log"
}

kill_swtpm() {
	local dir=$1 pid i
	[ -s "$dir/swtpm.pid" ] || return 0
	pid=$(cat "$dir/swtpm.pid")
	if alive_swtpm "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			alive_swtpm "$pid" || break
			sleep 0.05
		done
		if alive_swtpm "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.1
		fi
	fi
	rm -f "$dir/swtpm.pid"
}

# The watcher runs in its own session with no tie to the caller's stdio (a
# test runner waiting for its pipes to close must not wait for it). It exits
# when stop removes DIR/watcher.pid, or stops swtpm when the owner is gone.
start_watcher() {
	local dir=$1 owner=$2
	setsid bash -c '
		dir=$1 owner=$2 self=$$
		echo "$self" >"$dir/watcher.pid"
		while [ "$(cat "$dir/watcher.pid" 2>/dev/null)" = "$self" ]; do
			if ! kill -0 "$owner" 2>/dev/null; then
				exec "$3" stop "$dir"
			fi
			sleep 1
		done' watcher "$dir" "$owner" "$SELF" </dev/null >/dev/null 2>&1 &
	for ((i = 0; i < 100; i++)); do
		[ -s "$dir/watcher.pid" ] && return 0
		sleep 0.01
	done
	die "the owner watcher did not start"
}

cmd_start() {
	local dir=$1 owner="" flags=not-need-init,startup-clear port
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--owner) owner=${2:?--owner needs a PID}; shift 2 ;;
		--no-startup) flags=not-need-init; shift ;;
		*) die "unknown option $1" ;;
		esac
	done
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ -s "$dir/swtpm.pid" ] && alive_swtpm "$(cat "$dir/swtpm.pid")" &&
		die "$dir: swtpm already running"
	manufacture "$dir"
	echo "$flags" >"$dir/flags"
	port=$(launch "$dir" "")
	write_env "$dir" "$port"
	if [ -n "$owner" ]; then
		start_watcher "$dir" "$owner"
	fi
}

cmd_restart() {
	local dir port
	dir=$(cd "$1" && pwd)
	[ -s "$dir/env" ] || die "$dir: not started"
	port=$(sed -n 's/^PORT=//p' "$dir/env")
	kill_swtpm "$dir"
	launch "$dir" "$port" >/dev/null
	write_env "$dir" "$port"
}

cmd_stop() {
	local dir=$1 wpid
	[ -d "$dir" ] || die "$dir: no such directory"
	if [ -s "$dir/watcher.pid" ]; then
		wpid=$(cat "$dir/watcher.pid")
		rm -f "$dir/watcher.pid"
		# Our own watcher, by its pid, unless it is the caller.
		[ "$wpid" != "$$" ] && kill "$wpid" 2>/dev/null || true
	fi
	kill_swtpm "$dir"
	rm -f "$dir/env"
}

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
[ $# -ge 2 ] || die "usage: swtpm.sh start|restart|stop DIR [--owner PID] [--no-startup]"
case $1 in
start) shift; cmd_start "$@" ;;
restart) cmd_restart "$2" ;;
stop) cmd_stop "$2" ;;
*) die "unknown command $1" ;;
esac
