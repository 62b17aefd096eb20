#!/bin/bash
# boot-test.sh: boots a runner image (deploy/image/build.sh) once, as the qemu
# backend will: OVMF (measured boot), a swtpm vTPM on tpm-crb, virtio-net on
# QEMU user networking with the agent's and the executor's ports forwarded to
# loopback, and throwaway TLS material and identity passed in through fw_cfg.
#
# Usage: deploy/image/boot-test.sh OUT_DIR
#
# Waits (at most AICERT_BOOT_TIMEOUT seconds, default 120) for
# "aicert-image: ready" on the serial console, prints the time it took, and
# stops QEMU and swtpm. With AICERT_CLI=path/to/aicert it then also asks the
# agent, over mutual TLS through the forwarded port, for its health, its PCRs
# and its event logs (the firmware's included), and checks that the boot log
# replays to the PCRs (tpm2_eventlog). AICERT_IMAGE_KEEP=1 keeps the
# temporary directory (console.log, swtpm state, TLS material).
#
# Exit status: 0 booted; 1 failed (the console's tail is printed); 77
# skipped, a tool is missing (qemu-system-x86_64, OVMF, swtpm).
# No KVM: TCG only, so that it runs anywhere (a boot takes seconds).
set -euo pipefail

die() {
	echo "boot-test.sh: $*" >&2
	exit 1
}

skip() {
	echo "boot-test.sh: skipped: $*" >&2
	exit 77
}

[ $# -eq 1 ] || die "usage: boot-test.sh OUT_DIR"
OUT=$(cd "$1" && pwd) || die "$1: no such directory"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TLS_SH=$HERE/../../tests/harness/tls.sh
OVMF=${AICERT_OVMF:-/usr/share/ovmf/OVMF.fd}
TIMEOUT=${AICERT_BOOT_TIMEOUT:-120}

for f in vmlinuz initrd.img cmdline; do
	[ -f "$OUT/$f" ] || die "$OUT/$f missing (deploy/image/build.sh)"
done
for tool in qemu-system-x86_64 swtpm swtpm_setup swtpm_localca openssl; do
	command -v "$tool" >/dev/null || skip "$tool not found"
done
[ -f "$OVMF" ] || skip "$OVMF not found (package ovmf)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/aicert-boot.XXXXXX")
QEMU_PID="" SWTPM_PID=""
cleanup() {
	local pid
	for pid in $QEMU_PID $SWTPM_PID; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $QEMU_PID $SWTPM_PID; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "${AICERT_IMAGE_KEEP:-0}" = 1 ]; then
		echo "boot-test.sh: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

# Throwaway TLS material (the agent's server certificate serves both ports)
# and a controller identity.
"$TLS_SH" "$TMP/tls" || die "tls.sh failed"
head -c 32 /dev/urandom >"$TMP/identity"

# A TPM manufactured here, with EK certificates from a local CA in $TMP only.
mkdir -p "$TMP/tpm" "$TMP/ca"
cat >"$TMP/swtpm-localca.conf" <<EOF
statedir = $TMP/ca
signingkey = $TMP/ca/signkey.pem
issuercert = $TMP/ca/issuercert.pem
certserial = $TMP/ca/certserial
EOF
cat >"$TMP/swtpm-localca.options" <<EOF
--platform-manufacturer aicert
--platform-model swtpm
--platform-version 2.1
EOF
cat >"$TMP/swtpm_setup.conf" <<EOF
create_certs_tool = $(command -v swtpm_localca)
create_certs_tool_config = $TMP/swtpm-localca.conf
create_certs_tool_options = $TMP/swtpm-localca.options
active_pcr_banks = sha256,sha1
EOF
swtpm_setup --tpm2 --tpmstate "$TMP/tpm" --create-ek-cert --create-platform-cert --lock-nvram \
	--config "$TMP/swtpm_setup.conf" --logfile "$TMP/swtpm_setup.log" </dev/null \
	>"$TMP/swtpm_setup.out" 2>&1 || die "swtpm_setup failed, see $TMP/swtpm_setup.log"
swtpm socket --tpm2 --tpmstate "dir=$TMP/tpm" --ctrl "type=unixio,path=$TMP/swtpm.ctrl" \
	--flags not-need-init,startup-clear --log "file=$TMP/swtpm.log" </dev/null >/dev/null 2>&1 &
SWTPM_PID=$!
for ((i = 0; i < 100; i++)); do
	[ -S "$TMP/swtpm.ctrl" ] && break
	sleep 0.05
done
[ -S "$TMP/swtpm.ctrl" ] || die "swtpm did not start: $(tail -n 5 "$TMP/swtpm.log")"

# port_free PORT: nothing on this machine uses local TCP port PORT.
port_free() {
	local hex
	hex=$(printf ':%04X ' "$1")
	! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '{ print $2 " " }' | grep -q "$hex"
}
# Two free ports, below the ephemeral range.
while :; do
	P1=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
	P2=$((P1 + 1))
	port_free "$P1" && port_free "$P2" && break
done

START=$(date +%s.%N)
qemu-system-x86_64 -machine q35 -m 1024 -smp 2 -nographic -display none -no-reboot \
	-bios "$OVMF" -kernel "$OUT/vmlinuz" -initrd "$OUT/initrd.img" -append "$(cat "$OUT/cmdline")" \
	-chardev "socket,id=chrtpm,path=$TMP/swtpm.ctrl" -tpmdev emulator,id=tpm0,chardev=chrtpm \
	-device tpm-crb,tpmdev=tpm0 \
	-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$P1-:7700,hostfwd=tcp:127.0.0.1:$P2-:7701" \
	-device virtio-net-pci,netdev=n0 \
	-fw_cfg "name=opt/aicert/server.crt,file=$TMP/tls/agent.crt" \
	-fw_cfg "name=opt/aicert/server.key,file=$TMP/tls/agent.key" \
	-fw_cfg "name=opt/aicert/controller-ca.crt,file=$TMP/tls/controller-ca.crt" \
	-fw_cfg "name=opt/aicert/identity,file=$TMP/identity" \
	-serial "file:$TMP/console.log" -monitor none </dev/null >"$TMP/qemu.log" 2>&1 &
QEMU_PID=$!

elapsed() {
	awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'
}

console_fail() {
	echo "--- console (last 40 lines) ---" >&2
	tail -n 40 "$TMP/console.log" >&2 2>/dev/null || true
	echo "--- qemu ---" >&2
	cat "$TMP/qemu.log" >&2
	die "$*"
}

while :; do
	if grep -q '^aicert-image: ready' "$TMP/console.log" 2>/dev/null; then
		break
	fi
	if grep -q '^aicert-image: FAILED' "$TMP/console.log" 2>/dev/null; then
		console_fail "the image failed after $(elapsed) s"
	fi
	if ! kill -0 "$QEMU_PID" 2>/dev/null; then
		console_fail "qemu exited after $(elapsed) s"
	fi
	if awk -v s="$START" -v e="$(date +%s.%N)" -v t="$TIMEOUT" 'BEGIN { exit !(e - s > t) }'; then
		console_fail "no 'aicert-image: ready' within $TIMEOUT s"
	fi
	sleep 0.2
done
echo "boot-test.sh: ready after $(elapsed) s (TCG, from QEMU start)"
grep '^aicert-image: ' "$TMP/console.log" | sed 's/^/  console: /'

if [ -n "${AICERT_CLI:-}" ]; then
	AGENT=(--agent "tls+tcp://127.0.0.1:$P1" --tls-cert "$TMP/tls/controller.crt"
		--tls-key "$TMP/tls/controller.key" --tls-ca "$TMP/tls/agent-ca.crt")
	"$AICERT_CLI" agent health "${AGENT[@]}" || console_fail "aicert agent health failed"
	"$AICERT_CLI" agent pcrs "${AGENT[@]}" --pcrs 0-9,11 >"$TMP/pcrs.txt" ||
		console_fail "aicert agent pcrs failed"
	"$AICERT_CLI" agent eventlog "${AGENT[@]}" --out "$TMP/eventlog" >/dev/null ||
		console_fail "aicert agent eventlog failed"
	[ -s "$TMP/eventlog/boot.bin" ] || die "the agent serves no firmware event log"
	echo "boot-test.sh: firmware event log $(stat -c %s "$TMP/eventlog/boot.bin") bytes"
	if command -v tpm2_eventlog >/dev/null; then
		# "PCR VALUE" lines of the sha256 bank: those the agent read, and
		# those the boot log replays to.
		sha256_bank() {
			awk '/^ *sha256:/ { s = 1; next } /^ *sha(1|384|512):/ { s = 0 }
				s && /^ *[0-9]+ *: *0x/ { gsub(/[ :]+/, " "); sub(/^ /, "")
					sub(/^0x/, "", $2); print $1, tolower($2) }' "$@"
		}
		sha256_bank "$TMP/pcrs.txt" >"$TMP/pcrs.sha256"
		tpm2_eventlog "$TMP/eventlog/boot.bin" 2>/dev/null | sed -n '/^pcrs:/,$p' |
			sha256_bank >"$TMP/replayed.sha256"
		[ -s "$TMP/replayed.sha256" ] || die "tpm2_eventlog replays no sha256 PCR"
		if ! grep -vxFf "$TMP/pcrs.sha256" "$TMP/replayed.sha256" >"$TMP/mismatch"; then
			echo "boot-test.sh: the boot log replays to the agent's PCRs" \
				"$(cut -d' ' -f1 "$TMP/replayed.sha256" | paste -sd,)"
		else
			die "the boot log does not replay to the PCRs: $(cut -d' ' -f1 "$TMP/mismatch" | paste -sd,)"
		fi
	fi
fi
