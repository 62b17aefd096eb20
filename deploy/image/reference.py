#!/usr/bin/env python3
"""reference.py: the runner image's PCR 4 and PCR 9 reference events, from
its artifacts alone (deploy/image/build.sh runs it last).

Usage: deploy/image/reference.py [--memory-mb N] [--out FILE] OUT_DIR

Reads OUT_DIR/vmlinuz, OUT_DIR/initrd.img and OUT_DIR/cmdline and writes
OUT_DIR/reference-events.txt (or FILE): one line per event of PCR 4 or
PCR 9 that a boot with OVMF and QEMU's -kernel/-initrd/-append (as
controller/runner_qemu.c starts it: -machine q35 -m N) measures from an
artifact, in log order:

    PCR TYPE SHA256 what

  4 EV_EFI_BOOT_SERVICES_APPLICATION  the kernel, measured by OVMF as it
    loads it: the PE/COFF Authenticode hash (edk2's, as Tcg2Dxe measures
    it) of vmlinuz *as QEMU hands it over*: QEMU's -kernel loader patches
    the bzImage setup header (type_of_loader, loadflags, heap_end_ptr,
    cmd_line_ptr, ramdisk_image, ramdisk_size) before OVMF reads it, and
    ramdisk_image depends on the initrd's size and the guest's RAM below
    4 GiB. So this digest holds for one RAM size: N MiB, default 2048 (the
    runner's default, runner.options.memory_mb).
  9 EV_EVENT_TAG  the LoadOptions, measured by the kernel's EFI stub: the
    bytes OVMF's X86QemuLoadImageLib passes, the command line followed by
    " initrd=initrd" (OVMF adds it when QEMU has an -initrd), in UTF-16LE
    with a terminating NUL (2 bytes)
  9 EV_EVENT_TAG  the initrd, measured by the EFI stub when it loads it
    (LINUX_EFI_INITRD_MEDIA_GUID): SHA-256 of initrd.img

The other events of these PCRs are constants of the firmware, not of the
image: PCR 4's EV_EFI_ACTION "Calling EFI Application from Boot Option"
and EV_SEPARATOR. Python 3 standard library only; the output is a
function of the three files and N.
"""

import argparse
import hashlib
import os
import struct
import sys

# OVMF (X86QemuLoadImageLib) appends this to the command line when QEMU is
# given an initrd.
INITRD_SUFFIX = " initrd=initrd"

# The runner's RAM unless the job config says otherwise (runner_qemu.c).
DEFAULT_MEMORY_MB = 2048

# QEMU's x86_load_linux (hw/i386/x86.c), for a protocol >= 2.12 kernel that
# loads high and whose initrd may go above 4 GiB: where it puts the command
# line and the real-mode code, and the ACPI tables' room that it keeps free
# at the top of low RAM (pc machines since QEMU 2.x: 0x20000 + 0x8000).
QEMU_CMDLINE_ADDR = 0x20000
QEMU_REAL_ADDR = 0x10000
QEMU_ACPI_DATA_SIZE = 0x28000
QEMU_LOADER_TYPE = 0xB0
XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1


class PEError(Exception):
    pass


def authenticode_sha256(data):
    """The Authenticode SHA-256 of a PE/COFF image, as edk2 measures it."""
    if len(data) < 0x40 or data[:2] != b"MZ":
        raise PEError("not an MZ executable")
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if pe + 24 > len(data) or data[pe:pe + 4] != b"PE\0\0":
        raise PEError("no PE signature")
    nsections, = struct.unpack_from("<H", data, pe + 6)
    opt_size, = struct.unpack_from("<H", data, pe + 20)
    opt = pe + 24
    if opt + opt_size > len(data) or opt_size < 2:
        raise PEError("truncated optional header")
    magic, = struct.unpack_from("<H", data, opt)
    if magic == 0x10B:  # PE32
        nrva_off, dirs = opt + 92, opt + 96
    elif magic == 0x20B:  # PE32+
        nrva_off, dirs = opt + 108, opt + 112
    else:
        raise PEError("unknown optional header magic 0x%x" % magic)
    if nrva_off + 4 > opt + opt_size:
        raise PEError("truncated optional header")
    checksum = opt + 64
    size_of_headers, = struct.unpack_from("<I", data, opt + 60)
    nrva, = struct.unpack_from("<I", data, nrva_off)
    if size_of_headers > len(data):
        raise PEError("SizeOfHeaders beyond the end of the file")

    h = hashlib.sha256()
    h.update(data[:checksum])
    cert_size = 0
    if nrva <= 4:  # no Certificate Table entry
        h.update(data[checksum + 4:size_of_headers])
    else:
        sec_dir = dirs + 4 * 8
        if sec_dir + 8 > opt + opt_size:
            raise PEError("truncated data directories")
        cert_off, cert_size = struct.unpack_from("<II", data, sec_dir)
        if cert_size and cert_off + cert_size != len(data):
            # edk2 drops the last cert_size bytes; Authenticode excludes
            # the table where it is. They agree only for a table at the end.
            raise PEError("the certificate table is not at the end of the file")
        h.update(data[checksum + 4:sec_dir])
        h.update(data[sec_dir + 8:size_of_headers])

    sec_table = opt + opt_size
    if sec_table + 40 * nsections > len(data):
        raise PEError("truncated section table")
    sections = []
    for i in range(nsections):
        raw_size, raw_ptr = struct.unpack_from("<II", data, sec_table + 40 * i + 16)
        if raw_size:
            if raw_ptr + raw_size > len(data):
                raise PEError("section %d beyond the end of the file" % i)
            sections.append((raw_ptr, raw_size))
    hashed = size_of_headers
    for raw_ptr, raw_size in sorted(sections):
        h.update(data[raw_ptr:raw_ptr + raw_size])
        hashed += raw_size
    if len(data) > hashed + cert_size:
        h.update(data[hashed:len(data) - cert_size])
    return h.hexdigest()


def q35_below_4g(memory_mb):
    """RAM below 4 GiB of a q35 machine with memory_mb MiB (pc_q35_init)."""
    ram = memory_mb << 20
    lowmem = 0x80000000 if ram >= 0xB0000000 else 0xB0000000
    return min(ram, lowmem)


def qemu_kernel_image(data, initrd_size, cmdline, memory_mb):
    """vmlinuz as QEMU's -kernel loader passes it to the firmware (fw_cfg
    setup + kernel, which OVMF's QemuKernelLoaderFsDxe serves as "kernel"):
    the file with its setup header patched for the initrd and the RAM."""
    if len(data) < 0x260 or struct.unpack_from("<I", data, 0x202)[0] != 0x53726448:
        raise PEError("no Linux boot protocol header (HdrS)")
    protocol, = struct.unpack_from("<H", data, 0x206)
    xloadflags, = struct.unpack_from("<H", data, 0x236)
    if protocol < 0x20C or not data[0x211] & 1 or not xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G:
        raise PEError("boot protocol %x.%02x, loadflags 0x%02x, xloadflags 0x%x: "
                      "only a recent high-loading kernel is modelled"
                      % (protocol >> 8, protocol & 0xFF, data[0x211], xloadflags))
    if "vga=" in cmdline:
        raise PEError("vga= on the command line: QEMU patches vid_mode, not modelled")
    initrd_max = q35_below_4g(memory_mb) - QEMU_ACPI_DATA_SIZE - 1
    if initrd_size >= initrd_max:
        raise PEError("the initrd does not fit below %d MiB" % memory_mb)
    out = bytearray(data)
    struct.pack_into("<I", out, 0x228, QEMU_CMDLINE_ADDR)  # cmd_line_ptr
    out[0x210] = QEMU_LOADER_TYPE  # type_of_loader
    out[0x211] |= 0x80  # loadflags: CAN_USE_HEAP
    struct.pack_into("<H", out, 0x224, QEMU_CMDLINE_ADDR - QEMU_REAL_ADDR - 0x200)  # heap_end_ptr
    struct.pack_into("<II", out, 0x218, (initrd_max - initrd_size) & ~4095, initrd_size)
    return bytes(out)


def main(argv):
    ap = argparse.ArgumentParser(prog="reference.py",
                                 description="PCR 4 and 9 reference events of a runner image")
    ap.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                    help="the guest's RAM, as QEMU's -m (default %(default)s)")
    ap.add_argument("--out", help="where to write (default OUT_DIR/reference-events.txt)")
    ap.add_argument("out_dir", metavar="OUT_DIR")
    args = ap.parse_args(argv[1:])
    if not 256 <= args.memory_mb <= 1048576:
        ap.error("--memory-mb: 256 to 1048576")
    out = args.out_dir
    path = args.out or os.path.join(out, "reference-events.txt")

    def read(name):
        with open(os.path.join(out, name), "rb") as f:
            return f.read()

    try:
        vmlinuz = read("vmlinuz")
        initrd = read("initrd.img")
        cmdline = read("cmdline")
    except OSError as e:
        sys.stderr.write("reference.py: %s\n" % e)
        return 1
    try:
        text = cmdline.decode("ascii")
    except UnicodeDecodeError:
        sys.stderr.write("reference.py: cmdline: not ASCII\n")
        return 1
    if not text or text != text.strip() or "\0" in text or "\n" in text:
        sys.stderr.write("reference.py: cmdline: empty, or a NUL, newline or edge space in it\n")
        return 1
    try:
        kernel = authenticode_sha256(qemu_kernel_image(vmlinuz, len(initrd), text,
                                                       args.memory_mb))
    except PEError as e:
        sys.stderr.write("reference.py: vmlinuz: %s\n" % e)
        return 1
    options = (text + INITRD_SUFFIX + "\0").encode("utf-16-le")

    lines = [
        "4 EV_EFI_BOOT_SERVICES_APPLICATION %s vmlinuz (Authenticode, setup header as "
        "QEMU -kernel patches it for -m %d and initrd.img)" % (kernel, args.memory_mb),
        "9 EV_EVENT_TAG %s cmdline (LoadOptions: UTF-16LE cmdline + \"%s\" + NUL)"
        % (hashlib.sha256(options).hexdigest(), INITRD_SUFFIX),
        "9 EV_EVENT_TAG %s initrd.img (Linux initrd)" % hashlib.sha256(initrd).hexdigest(),
    ]
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="ascii", newline="\n") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        sys.stderr.write("reference.py: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
