#!/bin/bash
# build.sh: builds the aicert runner image, reproducibly and without root.
#
# Usage: deploy/image/build.sh BUILD_DIR OUT_DIR
#
# BUILD_DIR is a CMake build of this repository (agent/aicert-agent and
# agent/aicert-executor are taken from it). OUT_DIR gets:
#
#   vmlinuz       Debian's kernel (an EFI-stub bzImage), from the package
#                 image.lock pins
#   initrd.img    the initramfs: a gzip'd newc cpio with busybox, the agent,
#                 the executor, the libraries they need, the kernel modules
#                 for the TPM, the NIC and fw_cfg, and init.sh as /init
#   cmdline       the kernel command line (one line, no newline at the end)
#   reference-events.txt
#                 the PCR 4 and PCR 9 events a boot measures from those three
#                 (reference.py: the kernel's Authenticode hash, the initrd's
#                 and the command line's digests); see README.md
#   SHA256SUMS    of those four
#   manifest.txt  what went in: packages, versions and .deb digests, the host
#                 libraries with their packages, every file of the initramfs
#                 with its SHA-256
#
# Boot it with OVMF (measured boot: PCR 4 the kernel, PCR 9 the command line
# and the initrd), a tpm-crb vTPM and a virtio-net NIC; boot-test.sh shows
# how, init.sh what happens inside.
#
# Reproducible: two builds from the same BUILD_DIR, image.lock and host
# packages give byte-identical outputs. Every file has the time
# SOURCE_DATE_EPOCH from image.lock and a fixed mode and owner (0:0, set in
# the archive only: no chown, no mount, no chroot, no root needed), the
# archive's members are sorted (LC_ALL=C), inodes renumbered, and gzip
# writes no name or time.
#
# The .debs are fetched with "apt-get download PKG=VERSION" into
# ${AICERT_IMAGE_CACHE:-BUILD_DIR/image-cache}, reused from there, and each
# is checked against the SHA-256 image.lock pins (a mismatch is fatal). To
# move to a newer kernel or busybox, run deploy/image/update-lock.sh.
#
# Needs: apt-get, dpkg-deb, cpio, gzip, strip (binutils), ldd, sha256sum,
# dpkg-query, python3; xz or zstd only if the kernel's modules are
# compressed.
set -euo pipefail
umask 022
export LC_ALL=C TZ=UTC

die() {
	echo "build.sh: $*" >&2
	exit 1
}

[ $# -eq 2 ] || die "usage: build.sh BUILD_DIR OUT_DIR"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -d "$1" ] || die "$1: no such directory"
BUILD=$(cd "$1" && pwd)
mkdir -p "$2" || die "cannot create $2"
OUT=$(cd "$2" && pwd)
LOCK=$HERE/image.lock
CACHE=${AICERT_IMAGE_CACHE:-$BUILD/image-cache}

# The kernel command line, measured into PCR 9 with the initrd: keep fixed.
CMDLINE="console=ttyS0 panic=-1 rdinit=/init"

# Modules the image needs, with the config symbol that builds each: the TPM's
# CRB interface (QEMU -device tpm-crb), the virtio NIC (-device
# virtio-net-pci) and its PCI transport, and fw_cfg in sysfs (-fw_cfg). A
# module built in (=y) is skipped; its dependencies come from modules.dep.
MODULES=(
	tpm_crb:CONFIG_TCG_CRB
	virtio_pci:CONFIG_VIRTIO_PCI
	virtio_net:CONFIG_VIRTIO_NET
	qemu_fw_cfg:CONFIG_FW_CFG_SYSFS
)
# What init.sh needs built in.
BUILTIN=(CONFIG_BLK_DEV_INITRD CONFIG_RD_GZIP CONFIG_DEVTMPFS CONFIG_TMPFS CONFIG_PROC_FS
	CONFIG_SYSFS CONFIG_SECURITYFS CONFIG_SERIAL_8250_CONSOLE CONFIG_EFI_STUB CONFIG_UNIX
	CONFIG_INET)
# busybox applets not linked into /bin: nothing may start a shell or an init
# in place of /init.
SKIP_APPLETS=" busybox init linuxrc "

for tool in apt-get dpkg-deb dpkg-query cpio gzip strip ldd sha256sum find sort touch python3; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

START=$(date +%s.%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/aicert-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root

# lock KEY: the value of KEY in image.lock.
lock() {
	local v
	v=$(sed -n "s/^$1=//p" "$LOCK")
	[ -n "$v" ] || die "$LOCK: no $1"
	printf '%s\n' "$v"
}

SOURCE_DATE_EPOCH=$(lock SOURCE_DATE_EPOCH)
export SOURCE_DATE_EPOCH
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "$LOCK: bad SOURCE_DATE_EPOCH"
KERNEL_PACKAGE=$(lock KERNEL_PACKAGE)
KERNEL_VERSION=$(lock KERNEL_VERSION)
KERNEL_SHA256=$(lock KERNEL_SHA256)
BUSYBOX_PACKAGE=$(lock BUSYBOX_PACKAGE)
BUSYBOX_VERSION=$(lock BUSYBOX_VERSION)
BUSYBOX_SHA256=$(lock BUSYBOX_SHA256)

# fetch PKG VERSION SHA256: prints the path of the verified .deb in the cache.
fetch() {
	local pkg=$1 ver=$2 want=$3 deb tmp got debs
	[[ $want =~ ^[0-9a-f]{64}$ ]] || die "$LOCK: bad SHA-256 for $pkg"
	deb=$CACHE/${pkg}_$want.deb
	if [ ! -f "$deb" ]; then
		mkdir -p "$CACHE" || die "cannot create $CACHE"
		tmp=$(mktemp -d "$CACHE/download.XXXXXX")
		if ! (cd "$tmp" && apt-get download -q "$pkg=$ver") >"$tmp/log" 2>&1; then
			cat "$tmp/log" >&2
			rm -rf "$tmp"
			die "$pkg: apt-get download $pkg=$ver failed (is the version still in the archive? deploy/image/update-lock.sh)"
		fi
		debs=("$tmp"/*.deb)
		[ ${#debs[@]} -eq 1 ] || die "$pkg: apt-get download gave ${#debs[@]} files"
		[ -f "${debs[0]}" ] || die "$pkg: apt-get download gave no .deb"
		got=$(sha256sum <"${debs[0]}" | cut -d' ' -f1)
		if [ "$got" != "$want" ]; then
			rm -rf "$tmp"
			die "$pkg $ver: downloaded .deb has SHA-256 $got, image.lock pins $want"
		fi
		mv -f "${debs[0]}" "$deb"
		rm -rf "$tmp"
	fi
	got=$(sha256sum <"$deb" | cut -d' ' -f1)
	[ "$got" = "$want" ] ||
		die "$pkg $ver: $deb has SHA-256 $got, image.lock pins $want (delete it to download again)"
	printf '%s\n' "$deb"
}

echo "build.sh: fetching $KERNEL_PACKAGE $KERNEL_VERSION and $BUSYBOX_PACKAGE $BUSYBOX_VERSION" >&2
KERNEL_DEB=$(fetch "$KERNEL_PACKAGE" "$KERNEL_VERSION" "$KERNEL_SHA256")
BUSYBOX_DEB=$(fetch "$BUSYBOX_PACKAGE" "$BUSYBOX_VERSION" "$BUSYBOX_SHA256")
dpkg-deb -x "$KERNEL_DEB" "$WORK/kernel" || die "$KERNEL_PACKAGE: dpkg-deb -x failed"
dpkg-deb -x "$BUSYBOX_DEB" "$WORK/busybox" || die "$BUSYBOX_PACKAGE: dpkg-deb -x failed"

# --- the kernel -------------------------------------------------------------
KREL=${KERNEL_PACKAGE#linux-image-}
VMLINUZ=$WORK/kernel/boot/vmlinuz-$KREL
CONFIG=$WORK/kernel/boot/config-$KREL
MODDIR=$WORK/kernel/lib/modules/$KREL
[ -f "$VMLINUZ" ] || die "$KERNEL_PACKAGE: no boot/vmlinuz-$KREL"
[ -f "$CONFIG" ] || die "$KERNEL_PACKAGE: no boot/config-$KREL"
[ -d "$MODDIR" ] || die "$KERNEL_PACKAGE: no lib/modules/$KREL"

# config SYMBOL: y, m or empty.
config() {
	sed -n "s/^$1=//p" "$CONFIG"
}

for sym in "${BUILTIN[@]}"; do
	[ "$(config "$sym")" = y ] || die "$KERNEL_PACKAGE: $sym is not built in"
done

BB=$WORK/busybox/bin/busybox
[ -x "$BB" ] || die "$BUSYBOX_PACKAGE: no bin/busybox"

# modules.dep, as depmod makes it when the package is installed (the .deb has
# none); busybox's depmod needs no root and no kmod.
"$BB" depmod -b "$WORK/kernel" "$KREL" || die "depmod failed"
declare -A DEPS=() PATH_OF=() SEEN=()
while IFS= read -r line; do
	mod=${line%%:*}
	DEPS[$mod]=${line#*:}
	base=${mod##*/}
	base=${base%%.ko*}
	PATH_OF[${base//-/_}]=$mod
done <"$MODDIR/modules.dep"

LOAD_ORDER=()
# visit MOD: appends MOD's dependencies, then MOD, to LOAD_ORDER (once each).
# Dependencies are visited in sorted order, so the order depends on the
# graph only.
visit() {
	local mod=$1 dep
	[ -z "${SEEN[$mod]:-}" ] || return 0
	SEEN[$mod]=1
	local -a deps=()
	read -ra deps <<<"${DEPS[$mod]}"
	if [ ${#deps[@]} -gt 0 ]; then
		mapfile -t deps < <(printf '%s\n' "${deps[@]}" | sort)
	fi
	for dep in "${deps[@]}"; do
		visit "$dep"
	done
	LOAD_ORDER+=("$mod")
}

MODULE_NOTES=()
for entry in "${MODULES[@]}"; do
	name=${entry%%:*} sym=${entry#*:}
	case $(config "$sym") in
	y) MODULE_NOTES+=("$name ($sym=y): built in") ;;
	m)
		[ -n "${PATH_OF[$name]:-}" ] || die "$KERNEL_PACKAGE: $sym=m but no module $name"
		MODULE_NOTES+=("$name ($sym=m): module")
		visit "${PATH_OF[$name]}"
		;;
	*) die "$KERNEL_PACKAGE: $sym is not set, the image needs $name" ;;
	esac
done

# --- the initramfs tree -----------------------------------------------------
mkdir -p "$ROOT"/{bin,dev,etc/aicert,lib64,proc,root,run,sys,tmp,usr/bin,var/lib}
mkdir -p "$ROOT/lib/modules/$KREL"

# Modules, uncompressed (busybox insmod reads only plain .ko), and their load
# order for init.sh.
: >"$ROOT/etc/aicert/modules"
for mod in "${LOAD_ORDER[@]}"; do
	rel=${mod%.xz}
	rel=${rel%.zst}
	rel=${rel%.gz}
	dst=$ROOT/lib/modules/$KREL/$rel
	mkdir -p "$(dirname "$dst")"
	case $mod in
	*.ko) cp "$MODDIR/$mod" "$dst" ;;
	*.ko.xz) xz -dc "$MODDIR/$mod" >"$dst" ;;
	*.ko.zst) zstd -qdc "$MODDIR/$mod" >"$dst" ;;
	*.ko.gz) gzip -dc "$MODDIR/$mod" >"$dst" ;;
	*) die "$mod: unknown module format" ;;
	esac || die "$mod: cannot copy"
	echo "/lib/modules/$KREL/$rel" >>"$ROOT/etc/aicert/modules"
done

# busybox and its applets.
cp "$BB" "$ROOT/bin/busybox"
APPLETS=()
while IFS= read -r applet; do
	[[ $applet =~ ^[][a-z0-9_.-]+$ ]] || die "busybox: odd applet name '$applet'"
	[[ $SKIP_APPLETS == *" $applet "* ]] && continue
	APPLETS+=("$applet")
	ln -s busybox "$ROOT/bin/$applet"
done < <("$BB" --list | sort)
for applet in sh mount ip insmod cat mkdir sleep poweroff wc; do
	[ -L "$ROOT/bin/$applet" ] || die "busybox: no applet $applet"
done

# The agent and the executor, stripped (no symbols, no debug paths).
for prog in aicert-agent aicert-executor; do
	[ -x "$BUILD/agent/$prog" ] || die "$BUILD/agent/$prog: not built"
	strip --strip-all -o "$ROOT/usr/bin/$prog" "$BUILD/agent/$prog" || die "strip $prog failed"
done

# libs_of FILE: the shared objects FILE loads (ldd), one path a line.
libs_of() {
	ldd "$1" | awk -v f="$1" '
		$2 == "=>" && $3 == "not" { print "build.sh: " f ": " $1 " not found" > "/dev/stderr"; exit 1 }
		$2 == "=>" && $3 ~ /^\// { print $3; next }
		$1 ~ /^\// { print $1 }' || die "ldd $1 failed"
}

# libtss2-tctildr dlopen()s the TCTI by name, which ldd does not see.
TCTILDR=$(libs_of "$BUILD/agent/aicert-agent" | grep '/libtss2-tctildr\.so\.0$') ||
	die "aicert-agent does not link libtss2-tctildr"
TCTI=$(dirname "$TCTILDR")/libtss2-tcti-device.so.0
[ -f "$TCTI" ] || die "$TCTI not found (libtss2-tcti-device: apt-get install libtss2-dev)"

# What a job may load besides: the C runtime's maths library (the example
# training job, examples/tiny-finetune, is plain C with libm).
JOB_LIBS=(libm.so.6)
{
	libs_of "$BUILD/agent/aicert-agent"
	libs_of "$BUILD/agent/aicert-executor"
	echo "$TCTI"
	libs_of "$TCTI"
	for l in "${JOB_LIBS[@]}"; do
		p=$(dirname "$TCTILDR")/$l
		[ -f "$p" ] || die "$p not found"
		echo "$p"
	done
} >"$WORK/libs" || die "cannot list the libraries"
mapfile -t LIBS < <(sort -u "$WORK/libs")
for lib in "${LIBS[@]}"; do
	mkdir -p "$ROOT$(dirname "$lib")"
	cp -L "$lib" "$ROOT$lib" || die "cannot copy $lib"
done

# /init and /etc.
cp "$HERE/init.sh" "$ROOT/init"
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF
cat >"$ROOT/etc/hosts" <<'EOF'
127.0.0.1 localhost
::1 localhost
EOF

# Fixed modes and times.
find "$ROOT" -type d -exec chmod 0755 {} +
find "$ROOT" -type f -exec chmod 0644 {} +
chmod 0700 "$ROOT/root"
chmod 1777 "$ROOT/tmp"
chmod 0755 "$ROOT/init" "$ROOT/bin/busybox" "$ROOT"/usr/bin/* "$ROOT/lib64/ld-linux-x86-64.so.2"
find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# --- outputs ----------------------------------------------------------------
STAGE=$WORK/out
mkdir -p "$STAGE"
cp "$VMLINUZ" "$STAGE/vmlinuz"
(cd "$ROOT" && find . -mindepth 1 -printf '%P\n' | sort |
	cpio -o -H newc --reproducible -R 0:0 --quiet) | gzip -n -9 >"$STAGE/initrd.img" ||
	die "cpio | gzip failed"
printf '%s' "$CMDLINE" >"$STAGE/cmdline"
# What OVMF and the kernel's EFI stub will measure into PCRs 4 and 9, from
# the three files alone.
python3 "$HERE/reference.py" "$STAGE" || die "reference.py failed"
(cd "$STAGE" && sha256sum vmlinuz initrd.img cmdline reference-events.txt) >"$STAGE/SHA256SUMS"

# pkg_of PATH: "package version" of the installed package that ships PATH.
pkg_of() {
	local p pkg
	for p in "$1" "/usr$1" "$(readlink -f "$1")"; do
		pkg=$(dpkg-query -S "$p" 2>/dev/null | sed -n '1s/: .*//p') || true
		if [ -n "$pkg" ]; then
			echo "$pkg $(dpkg-query -W -f='${Version}' "$pkg")"
			return 0
		fi
	done
	echo "unknown"
}

sha() {
	sha256sum <"$1" | cut -d' ' -f1
}

{
	echo "# aicert runner image: what went in (deploy/image/build.sh)"
	echo "source-date-epoch $SOURCE_DATE_EPOCH"
	echo "kernel $KERNEL_PACKAGE $KERNEL_VERSION deb-sha256 $KERNEL_SHA256"
	echo "kernel-release $KREL"
	echo "busybox $BUSYBOX_PACKAGE $BUSYBOX_VERSION deb-sha256 $BUSYBOX_SHA256"
	echo "cmdline $CMDLINE"
	for note in "${MODULE_NOTES[@]}"; do
		echo "module $note"
	done
	for mod in "${LOAD_ORDER[@]}"; do
		echo "module-load $mod"
	done
	for prog in aicert-agent aicert-executor; do
		echo "program /usr/bin/$prog from agent/$prog sha256 $(sha "$BUILD/agent/$prog") (before strip)"
	done
	for lib in "${LIBS[@]}"; do
		echo "library $lib $(pkg_of "$lib")"
	done
	echo "# initramfs: mode type path sha256|-> target (owner 0:0, mtime source-date-epoch)"
	(cd "$ROOT" && find . -mindepth 1 -printf '%P\n' | sort) | while IFS= read -r f; do
		p=$ROOT/$f
		if [ -L "$p" ]; then
			echo "0777 l $f -> $(readlink "$p")"
		elif [ -d "$p" ]; then
			printf '%04d d %s\n' "$(stat -c %a "$p")" "$f"
		else
			printf '%04d f %s %s\n' "$(stat -c %a "$p")" "$f" "$(sha "$p")"
		fi
	done
	echo "# outputs"
	cat "$STAGE/SHA256SUMS"
} >"$STAGE/manifest.txt"

for f in vmlinuz initrd.img cmdline reference-events.txt SHA256SUMS manifest.txt; do
	touch -d "@$SOURCE_DATE_EPOCH" "$STAGE/$f"
	mv -f "$STAGE/$f" "$OUT/$f"
done

END=$(date +%s.%N)
awk -v s="$START" -v e="$END" -v k="$(stat -c %s "$OUT/vmlinuz")" \
	-v i="$(stat -c %s "$OUT/initrd.img")" -v u="$(du -sb "$ROOT" | cut -f1)" \
	-v n="$(find "$ROOT" -mindepth 1 | wc -l)" -v o="$OUT" 'BEGIN {
	printf "build.sh: image in %s: vmlinuz %.1f MiB, initrd.img %.1f MiB (%d entries, %.1f MiB unpacked), %.1f s\n",
		o, k / 1048576, i / 1048576, n, u / 1048576, e - s > "/dev/stderr" }'
