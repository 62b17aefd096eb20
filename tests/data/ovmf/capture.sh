#!/bin/bash
# Captures a real UEFI boot event log for the tcglog tests: boots Debian's
# kernel under QEMU + OVMF + swtpm (tpm-crb) with a busybox initramfs whose
# /init prints the firmware's event log (base64) and the guest's PCR values to
# the serial console, then powers off. Writes into OUT (default: this script's
# directory):
#   binary_bios_measurements  the log, byte for byte as the guest's securityfs
#                             exposes it
#   pcrs-sha256.txt           "N HEX" for PCRs 0-23, read in the guest from
#                             /sys/class/tpm/tpm0/pcr-sha256/N
#   pcrs-sha1.txt             the same for the SHA-1 bank (for display only)
#   tpm2_eventlog.yaml        `tpm2_eventlog binary_bios_measurements`
#   versions.txt              the packages and the kernel that produced them
#
# Needs (Debian 12): qemu-system-x86 ovmf swtpm busybox-static cpio tpm2-tools,
# and a kernel package: `apt-get download linux-image-6.1.0-NN-amd64`, passed
# as KERNEL_DEB (default: the newest linux-image-*-amd64_*.deb in the current
# directory). No KVM needed: TCG boots it in a few seconds.
#
# Usage: KERNEL_DEB=path/to/linux-image-....deb tests/data/ovmf/capture.sh [OUT]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
ovmf=${OVMF:-/usr/share/ovmf/OVMF.fd}
kdeb=${KERNEL_DEB:-$(ls -1 linux-image-*-amd64_*.deb 2>/dev/null | sort -V | tail -1)}
[ -n "$kdeb" ] && [ -f "$kdeb" ] || { echo "capture.sh: set KERNEL_DEB" >&2; exit 2; }
for t in qemu-system-x86_64 swtpm busybox cpio dpkg-deb tpm2_eventlog base64; do
	command -v "$t" >/dev/null || { echo "capture.sh: $t not found" >&2; exit 2; }
done
bb=$(command -v busybox)
file "$bb" 2>/dev/null | grep -q 'statically linked' || bb=/bin/busybox

work=$(mktemp -d)
swtpm_pid=
cleanup() {
	[ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# The kernel.
dpkg-deb -x "$kdeb" "$work/kpkg"
kernel=$(ls "$work"/kpkg/boot/vmlinuz-*)

# The initramfs: static busybox and an /init that dumps the log and the PCRs.
mkdir -p "$work/initrd/bin" "$work/initrd/proc" "$work/initrd/sys" "$work/initrd/dev"
cp "$bb" "$work/initrd/bin/busybox"
cat >"$work/initrd/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t securityfs securityfs /sys/kernel/security
log=/sys/kernel/security/tpm0/binary_bios_measurements
echo "=== LOG-SIZE $(cat $log | wc -c)"
echo "=== BEGIN LOG"
base64 $log
echo "=== END LOG"
for bank in sha256 sha1; do
	echo "=== BEGIN PCRS-$bank"
	n=0
	while [ $n -lt 24 ]; do
		echo "$n $(cat /sys/class/tpm/tpm0/pcr-$bank/$n)"
		n=$((n + 1))
	done
	echo "=== END PCRS-$bank"
done
echo "=== DONE"
poweroff -f
INIT
chmod 755 "$work/initrd/init"
# Byte-for-byte reproducible: fixed times, sorted names, no gzip time stamp.
# QEMU writes the initrd's size into the kernel's setup header, which the
# firmware hashes into PCR 4, so PCR 4 as well as PCR 9 depend on these bytes.
find "$work/initrd" -exec touch -h -d @0 {} +
(cd "$work/initrd" && find . | LC_ALL=C sort |
	cpio -o -H newc --reproducible --owner=0:0 --quiet | gzip -9 -n >"$work/initrd.gz")

# The vTPM: a fresh state every time; it exits when QEMU closes the socket.
mkdir -p "$work/state"
swtpm socket --tpm2 --tpmstate dir="$work/state" \
	--ctrl type=unixio,path="$work/swtpm-sock" --log file="$work/swtpm.log" &
swtpm_pid=$!
for _ in $(seq 50); do [ -S "$work/swtpm-sock" ] && break; sleep 0.1; done

timeout 300 qemu-system-x86_64 -machine q35 -m 512 -nographic -no-reboot \
	-bios "$ovmf" \
	-chardev socket,id=chrtpm,path="$work/swtpm-sock" \
	-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-crb,tpmdev=tpm0 \
	-kernel "$kernel" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 loglevel=1" \
	-serial file:"$work/serial.txt" -monitor none -display none </dev/null

tr -d '\r' <"$work/serial.txt" >"$work/serial"
grep -q '^=== DONE' "$work/serial" || { echo "capture.sh: guest did not finish" >&2; tail -20 "$work/serial" >&2; exit 1; }
section() { sed -n "/^=== BEGIN $1\$/,/^=== END $1\$/p" "$work/serial" | sed '1d;$d'; }

mkdir -p "$out"
section LOG | base64 -d >"$out/binary_bios_measurements"
want=$(sed -n 's/^=== LOG-SIZE //p' "$work/serial")
have=$(stat -c %s "$out/binary_bios_measurements")
[ "$want" = "$have" ] || { echo "capture.sh: log is $have bytes, guest said $want" >&2; exit 1; }
section PCRS-sha256 >"$out/pcrs-sha256.txt"
section PCRS-sha1 >"$out/pcrs-sha1.txt"
[ "$(wc -l <"$out/pcrs-sha256.txt")" = 24 ] || { echo "capture.sh: PCRs missing" >&2; exit 1; }
tpm2_eventlog "$out/binary_bios_measurements" >"$out/tpm2_eventlog.yaml"
{
	echo "kernel: $(basename "$kdeb") ($(basename "$kernel"))"
	for p in ovmf qemu-system-x86 swtpm busybox-static tpm2-tools; do
		echo "$p: $(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo '?')"
	done
	echo "ovmf image: $ovmf sha256 $(sha256sum "$ovmf" | cut -d' ' -f1)"
	echo "initrd: sha256 $(sha256sum "$work/initrd.gz" | cut -d' ' -f1)"
	echo "log: $have bytes sha256 $(sha256sum "$out/binary_bios_measurements" | cut -d' ' -f1)"
} >"$out/versions.txt"
cat "$out/versions.txt"
