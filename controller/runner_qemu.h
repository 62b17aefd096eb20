/* The `qemu` runner backend: the runner image (deploy/image/) booted under
 * QEMU with OVMF, so the firmware measures the kernel, its command line and
 * the initrd into the vTPM, with a fresh swtpm (its own EK CA) as that vTPM.
 *
 * runner_qemu_start() creates DIR = mkdtemp(WORK/aicert-qemu.XXXXXX) holding,
 * in DIR/runner/: the TPM's state and EK CA (as runner_local.h describes),
 * tls/ (tlsgen.h: a session CA, the runner's and the controller's
 * certificates), controller.id (a one-time identity, 32 random bytes), and
 * the logs setup.log, swtpm.log, qemu.log and console.log (the guest's
 * serial console). It starts `swtpm socket` on a Unix control socket and
 * qemu-system-x86_64 (q35, TCG, -bios OVMF, -kernel/-initrd/-append from the
 * image, tpm-crb, virtio-net on user networking with restrict=on so that the
 * guest reaches nothing, and two host forwards from 127.0.0.1 to the guest's
 * agent (7700) and executor (7701)); the runner's TLS key and certificate,
 * the session CA and the identity reach the guest through -fw_cfg. It
 * returns once the console says "aicert-image: ready".
 *
 * Processes, signals and errors as in runner_local.h: direct children, their
 * own process groups, PR_SET_PDEATHSIG, torn down by runner_qemu_stop().
 */
#ifndef AICERT_RUNNER_QEMU_H
#define AICERT_RUNNER_QEMU_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc.h"

#define RUNNER_QEMU_READY_MS      300000 /* boot under TCG, on a busy machine */
#define RUNNER_QEMU_AGENT_PORT    7700
#define RUNNER_QEMU_EXECUTOR_PORT 7701

struct runner_qemu_opts {
	const char *image_dir; /* vmlinuz, initrd.img, cmdline */
	const char *work_dir;  /* NULL: $TMPDIR, else /tmp */
	const char *firmware;  /* NULL: /usr/share/ovmf/OVMF.fd */
	uint32_t memory_mb;    /* 0: 2048 */
	uint32_t cpus;         /* 0: 2 */
	bool keep;
	uint32_t ready_timeout_ms; /* 0: RUNNER_QEMU_READY_MS */
};

struct runner_qemu;

int runner_qemu_start(const struct runner_qemu_opts *o, struct runner_qemu **ret);
/* Quits QEMU (SIGTERM, then SIGKILL to its group), then swtpm; removes DIR
 * unless keep. Idempotent. */
int runner_qemu_stop(struct runner_qemu *r);
void runner_qemu_free(struct runner_qemu *r);

const char *runner_qemu_agent_url(const struct runner_qemu *r);    /* tls+tcp://127.0.0.1:P */
const char *runner_qemu_executor_url(const struct runner_qemu *r); /* tls+tcp://127.0.0.1:Q */
/* The controller's side of the session's mutual TLS. */
const struct rpc_tls *runner_qemu_tls(const struct runner_qemu *r);
const char *runner_qemu_ek_root(const struct runner_qemu *r);
const char *runner_qemu_ek_issuer(const struct runner_qemu *r);
const char *runner_qemu_controller_identity(const struct runner_qemu *r);
const char *runner_qemu_dir(const struct runner_qemu *r);
const char *runner_qemu_private_dir(const struct runner_qemu *r);
/* Milliseconds from the start of QEMU to the console's ready line. */
long runner_qemu_boot_ms(const struct runner_qemu *r);

#endif
