#!/bin/sh
# /init of the aicert runner image: deploy/image/build.sh copies this file into
# the initramfs, where busybox sh runs it as PID 1.
#
# It mounts the kernel file systems, loads the modules build.sh listed in
# /etc/aicert/modules (in dependency order), copies the runner's secrets from
# QEMU's fw_cfg into /run/aicert/:
#
#   -fw_cfg name=opt/aicert/server.crt,file=...         TLS certificate of both services
#   -fw_cfg name=opt/aicert/server.key,file=...         its private key
#   -fw_cfg name=opt/aicert/controller-ca.crt,file=...  CA of the controller's certificates
#   -fw_cfg name=opt/aicert/identity,file=...           the controller's identity
#
# configures the network for QEMU user networking (10.0.2.15/24, gateway
# 10.0.2.2), waits for /dev/tpmrm0, then starts aicert-agent and, once it is
# ready, aicert-executor. Their output goes to the console, each line
# prefixed with "agent: " or "executor: ". It prints
#
#   aicert-image: ready             once both logged their "ready" line
#   aicert-image: FAILED <what>     on any error, then powers the machine off
#
# It never starts a shell; when it cannot power off, PID 1 exits and the
# kernel panics (panic=-1 on the command line: an immediate reboot).

PATH=/bin:/usr/bin
export PATH
umask 022

say() {
	echo "aicert-image: $*"
}

fail() {
	say "FAILED $*"
	poweroff -f
	sleep 10
	exit 1
}

# wait_for TEST ARG WHAT: waits up to 10 s until "test TEST ARG" holds.
wait_for() {
	i=0
	while ! test "$1" "$2"; do
		i=$((i + 1))
		[ "$i" -le 100 ] || fail "$3"
		sleep 0.1
	done
}

mount -t devtmpfs -o nosuid,noexec,mode=0755 devtmpfs /dev || fail "mount /dev"
exec </dev/console >/dev/console 2>&1
mount -t proc -o nosuid,nodev,noexec proc /proc || fail "mount /proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys || fail "mount /sys"
mount -t securityfs -o nosuid,nodev,noexec securityfs /sys/kernel/security ||
	fail "mount /sys/kernel/security"
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run || fail "mount /run"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp || fail "mount /tmp"
{ mkdir -p /dev/shm && mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm; } ||
	fail "mount /dev/shm"

while read -r module; do
	insmod "$module" || fail "insmod $module"
done </etc/aicert/modules

# The runner's secrets, from fw_cfg (the qemu_fw_cfg module).
FW_CFG=/sys/firmware/qemu_fw_cfg/by_name/opt/aicert
mkdir -m 0700 /run/aicert || fail "mkdir /run/aicert"
for item in server.crt server.key controller-ca.crt identity; do
	[ -r "$FW_CFG/$item/raw" ] || fail "missing fw_cfg item opt/aicert/$item"
	(umask 077 && cat "$FW_CFG/$item/raw" >"/run/aicert/$item") ||
		fail "cannot read fw_cfg item opt/aicert/$item"
	[ -s "/run/aicert/$item" ] || fail "empty fw_cfg item opt/aicert/$item"
done

# QEMU user networking (-netdev user): the guest is 10.0.2.15, the host 10.0.2.2.
wait_for -e /sys/class/net/eth0 "no network interface eth0"
ip link set lo up || fail "ip link set lo up"
ip link set eth0 up || fail "ip link set eth0 up"
ip addr add 10.0.2.15/24 dev eth0 || fail "ip addr add"
ip route add default via 10.0.2.2 || fail "ip route add"

wait_for -c /dev/tpmrm0 "no TPM (/dev/tpmrm0)"
EVENT_LOG=/sys/kernel/security/tpm0/binary_bios_measurements
if [ -r "$EVENT_LOG" ]; then
	say "TPM /dev/tpmrm0, firmware event log $(wc -c <"$EVENT_LOG") bytes"
else
	say "TPM /dev/tpmrm0, no firmware event log"
fi

mkdir -m 0700 /var/lib/aicert-agent /run/aicert-agent || fail "mkdir (agent)"
mkdir -m 0755 /var/lib/aicert-executor /var/lib/aicert-executor/work || fail "mkdir (executor)"

# start NAME CMD...: runs CMD in the background, its output on the console
# line by line, prefixed with "NAME: ". $S/NAME.ready appears once it logged
# its ready line, $S/NAME.exit (its exit status) once it exited.
S=/run/aicert-image
mkdir -m 0700 "$S" || fail "mkdir $S"
start() {
	name=$1
	shift
	{
		"$@" 2>&1 </dev/null
		echo "$?" >"$S/$name.exit"
	} | while IFS= read -r line; do
		echo "$name: $line"
		case $line in
		"<6>ready: "*) : >"$S/$name.ready" ;;
		esac
	done &
}

# check_exits: fails if either service has exited.
check_exits() {
	for name in agent executor; do
		if [ -e "$S/$name.exit" ]; then
			say "$name exited with status $(cat "$S/$name.exit")"
			fail "$name"
		fi
	done
}

start agent aicert-agent --tcti device:/dev/tpmrm0 --state-dir /var/lib/aicert-agent \
	--local ipc:///run/aicert-agent/agent.sock \
	--listen tls+tcp://0.0.0.0:7700 --tls-cert /run/aicert/server.crt \
	--tls-key /run/aicert/server.key --tls-ca /run/aicert/controller-ca.crt \
	--controller-identity /run/aicert/identity

# The executor dials the agent's socket: start it once the agent serves.
while [ ! -e "$S/agent.ready" ]; do
	check_exits
	sleep 0.1
done

start executor aicert-executor --agent ipc:///run/aicert-agent/agent.sock \
	--listen tls+tcp://0.0.0.0:7701 --tls-cert /run/aicert/server.crt \
	--tls-key /run/aicert/server.key --tls-ca /run/aicert/controller-ca.crt \
	--workspace /var/lib/aicert-executor/work --hide /run/aicert-agent --hide /run/aicert \
	--hide /var/lib/aicert-agent --run-as 65534:65534

while [ ! -e "$S/executor.ready" ]; do
	check_exits
	sleep 0.1
done
say ready

while :; do
	check_exits
	sleep 1
done
