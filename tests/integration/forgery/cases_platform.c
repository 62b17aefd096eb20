/* Forgeries against what the verifier is pointed at: a model directory that
 * is not the job's outputs, the platform the proof claims, and a policy whose
 * expectations the proof does not meet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ca.h"
#include "fileio.h"
#include "hex.h"
#include "proof.h"
#include "forge.h"

/* ---- --model --------------------------------------------------------------------------------- */

static const char *const model_files[] = {"config.json", "model.safetensors",
					  "tokenizer/vocab.txt"};

static void model_copy_file(const struct fx *f, const char *dir, const char *name)
{
	char from[2 * PATH_MAX], to[2 * PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;

	snprintf(from, sizeof(from), "%s/%s", f->model_dir, name);
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	assert_int_equal(fileio_read_all(from, 1u << 20, &buf, &len), 0);
	assert_int_equal(harness_write_file(to, buf, len), 0);
	free(buf);
}

/* A copy of the model directory in o->model_dir, without `skip` (may be
 * NULL). */
static void model_copy(const struct fx *f, struct forged *o, const char *name, const char *skip)
{
	char file[64], sub[2 * PATH_MAX];

	snprintf(file, sizeof(file), "model-%s", name);
	fx_path(f, file, o->model_dir);
	assert_int_equal(fileio_mkdir(o->model_dir, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/tokenizer", o->model_dir);
	assert_int_equal(fileio_mkdir(sub, 0700), 0);
	for (size_t i = 0; i < sizeof(model_files) / sizeof(model_files[0]); i++)
		if (!skip || strcmp(skip, model_files[i]) != 0)
			model_copy_file(f, o->model_dir, model_files[i]);
}

static void model_path(const struct forged *o, const char *name, char out[2 * PATH_MAX])
{
	snprintf(out, 2 * PATH_MAX, "%s/%s", o->model_dir, name);
}

static void model_modified(struct fx *f, struct forged *o)
{
	char path[2 * PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;

	forge_emit(o, forge_good(f));
	model_copy(f, o, "modified", NULL);
	model_path(o, "model.safetensors", path);
	assert_int_equal(fileio_read_all(path, 1u << 20, &buf, &len), 0);
	buf[len - 1] ^= 0x01;
	assert_int_equal(harness_write_file(path, buf, len), 0);
	free(buf);
}

static void model_missing(struct fx *f, struct forged *o)
{
	forge_emit(o, forge_good(f));
	model_copy(f, o, "missing", "tokenizer/vocab.txt");
}

static void model_extra(struct fx *f, struct forged *o)
{
	char path[2 * PATH_MAX];

	forge_emit(o, forge_good(f));
	model_copy(f, o, "extra", NULL);
	model_path(o, "adapter.safetensors", path);
	assert_int_equal(harness_write_file(path, "lora", 4), 0);
}

static void model_renamed(struct fx *f, struct forged *o)
{
	char from[2 * PATH_MAX], to[2 * PATH_MAX];

	forge_emit(o, forge_good(f));
	model_copy(f, o, "renamed", NULL);
	model_path(o, "config.json", from);
	model_path(o, "config.yaml", to);
	assert_int_equal(rename(from, to), 0);
}

static void model_symlink(struct fx *f, struct forged *o)
{
	char target[PATH_MAX + 32], link[2 * PATH_MAX];

	forge_emit(o, forge_good(f));
	model_copy(f, o, "symlink", "tokenizer/vocab.txt");
	snprintf(target, sizeof(target), "%s/tokenizer/vocab.txt", f->model_dir);
	model_path(o, "tokenizer/vocab.txt", link);
	assert_int_equal(symlink(target, link), 0);
}

static void model_empty(struct fx *f, struct forged *o)
{
	forge_emit(o, forge_good(f));
	fx_path(f, "model-empty", o->model_dir);
	assert_int_equal(fileio_mkdir(o->model_dir, 0700), 0);
}

static const struct forgery cases_model_list[] = {
	FORGERY("--model with one weight byte changed", "model.files", model_modified),
	FORGERY("--model with a file missing", "model.files", model_missing),
	FORGERY("--model with an extra file", "model.files", model_extra),
	FORGERY("--model with a file renamed", "model.files", model_renamed),
	FORGERY("--model with a symlink for a file", "model.files", model_symlink),
	FORGERY("--model directory empty", "model.files", model_empty),
};

const struct forgery_table cases_model = {"model", cases_model_list,
					  sizeof(cases_model_list) / sizeof(cases_model_list[0])};

/* ---- platform and policy --------------------------------------------------------------------- */

static void plat_claims_measured(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	snprintf(p->platform, sizeof(p->platform), "measured");
	forge_emit(o, p);
}

static void plat_policy(const struct fx *f, struct forged *o, const char *name, bool allow_dev,
			const char *extra)
{
	const char *roots[] = {f->a.tpm.ek_root, NULL};
	const char *inter[] = {f->a.tpm.ek_issuer, NULL};

	forge_policy(f, o, name, roots, inter, allow_dev, extra);
}

static void plat_development_not_allowed(struct fx *f, struct forged *o)
{
	forge_emit(o, forge_good(f));
	plat_policy(f, o, "no-development", false, NULL);
}

static void plat_platform_proof_development_not_allowed(struct fx *f, struct forged *o)
{
	forge_emit(o, forge_parse(&f->platform));
	plat_policy(f, o, "no-development", false, NULL);
}

static void plat_boot_log_ovmf(struct fx *f, struct forged *o)
{
	cases_logs_boot_ovmf(f, o, false);
}

static void plat_boot_log_ovmf_measured(struct fx *f, struct forged *o)
{
	cases_logs_boot_ovmf(f, o, true);
}

/* expected_inputs: the job's inputs, with the base model's digest xor
 * flip (when flip is nonzero), and the given extra entry. */
static void plat_inputs(struct fx *f, struct forged *o, const char *name, uint8_t flip,
			bool dataset, const char *extra)
{
	char yaml[1024], base[65], data[65];
	uint8_t d[32];

	memcpy(d, f->inputs[0].sha256, 32);
	d[0] ^= flip;
	hex_encode(d, 32, base);
	hex_encode(f->inputs[1].sha256, 32, data);
	snprintf(yaml, sizeof(yaml),
		 "expected_inputs:\n  - {name: base_model, sha256: %s}\n%s%s%s%s", base,
		 dataset ? "  - {name: dataset, sha256: " : "", dataset ? data : "",
		 dataset ? "}\n" : "", extra ? extra : "");
	forge_emit(o, forge_good(f));
	plat_policy(f, o, name, true, yaml);
}

static void plat_inputs_exact(struct fx *f, struct forged *o)
{
	plat_inputs(f, o, "inputs-exact", 0, true, NULL);
}

static void plat_inputs_other_base_model(struct fx *f, struct forged *o)
{
	plat_inputs(f, o, "inputs-other", 0x01, true, NULL);
}

static void plat_inputs_subset(struct fx *f, struct forged *o)
{
	plat_inputs(f, o, "inputs-subset", 0, false, NULL);
}

static void plat_inputs_superset(struct fx *f, struct forged *o)
{
	plat_inputs(f, o, "inputs-superset", 0, true,
		    "  - {name: code, sha256: "
		    "0000000000000000000000000000000000000000000000000000000000000000}\n");
}

static void plat_other_attestation_ca(struct fx *f, struct forged *o)
{
	const char *roots[] = {f->a.tpm.ek_root, NULL};
	const char *inter[] = {f->a.tpm.ek_issuer, NULL};
	char dir[PATH_MAX], crt[PATH_MAX + 16];

	fx_path(f, "rogue-ca", dir);
	if (access(dir, F_OK) != 0)
		assert_int_equal(ca_init(dir, NULL), 0);
	snprintf(crt, sizeof(crt), "%s/%s", dir, CA_CERT_FILE);
	forge_emit(o, forge_good(f));
	fx_path(f, "policy-other-ak-ca.yaml", o->policy);
	fx_policy_write(o->policy, roots, inter, crt, true, NULL);
}

/* b's platform proof after its PCRs were extended from userspace with
 * OVMF's boot log (fx_tpm_fake_boot()), under a policy that trusts b's EK CA
 * and does not allow development platforms. */
static void plat_fake_boot(struct fx *f, struct forged *o, const char *name, const char *extra)
{
	const char *roots[] = {f->b.tpm.ek_root, NULL};
	const char *inter[] = {f->b.tpm.ek_issuer, NULL};

	forge_text(o, (const char *)f->measured.buf, f->measured.len);
	forge_policy(f, o, name, roots, inter, false, extra);
}

static void plat_fake_boot_no_reference(struct fx *f, struct forged *o)
{
	plat_fake_boot(f, o, "boot-no-reference", NULL);
}

static void plat_fake_boot_other_reference(struct fx *f, struct forged *o)
{
	plat_fake_boot(f, o, "boot-other-reference",
		       "boot_pcrs:\n  0: "
		       "\"0000000000000000000000000000000000000000000000000000000000000000\"\n");
}

/* The reference values of the image the log came from (tests/data/ovmf), for
 * the boot PCRs whose number `pick` accepts. */
static void plat_fake_boot_reference(struct fx *f, struct forged *o, const char *name,
				     bool (*pick)(unsigned pcr))
{
	char yaml[1024] = "boot_pcrs:\n", line[160];
	FILE *fp = fopen(AICERT_SOURCE_DIR "/tests/data/ovmf/pcrs-sha256.txt", "r");
	unsigned pcr;
	char hex[65];

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "%u %64s", &pcr, hex) == 2 && pick(pcr)) {
			size_t n = strlen(yaml);

			snprintf(yaml + n, sizeof(yaml) - n, "  %u: \"%s\"\n", pcr, hex);
		}
	fclose(fp);
	plat_fake_boot(f, o, name, yaml);
}

static bool plat_firmware_pcr(unsigned pcr)
{
	return pcr < 8;
}

static bool plat_boot_pcr(unsigned pcr)
{
	return pcr < 8 || pcr == 9 || pcr == 11;
}

/* PCRs 0-7 pinned, PCR 9 (initrd and command line) not: the boot chain
 * could have run any initrd. */
static void plat_fake_boot_firmware_reference(struct fx *f, struct forged *o)
{
	plat_fake_boot_reference(f, o, "boot-firmware-reference", plat_firmware_pcr);
}

static void plat_fake_boot_its_reference(struct fx *f, struct forged *o)
{
	plat_fake_boot_reference(f, o, "boot-its-reference", plat_boot_pcr);
}

static const struct forgery cases_platform_list[] = {
	FORGERY("development proof claiming a measured platform", "platform", plat_claims_measured),
	FORGERY("development proof, policy without allow_development", "platform",
		plat_development_not_allowed),
	FORGERY("platform proof, policy without allow_development", "platform",
		plat_platform_proof_development_not_allowed),
	FORGERY("boot log of another machine (OVMF)", "boot.log", plat_boot_log_ovmf),
	FORGERY("OVMF boot log, claiming a measured platform", "boot.log",
		plat_boot_log_ovmf_measured),
	FORGERY("policy expects exactly the job's inputs (control)", NULL, plat_inputs_exact),
	FORGERY("policy expects another base model", "policy.inputs", plat_inputs_other_base_model),
	FORGERY("policy expects only the base model", "policy.inputs", plat_inputs_subset),
	FORGERY("policy expects one more input", "policy.inputs", plat_inputs_superset),
	FORGERY("policy trusts another attestation CA", "ak.certificate",
		plat_other_attestation_ca),
	FORGERY("boot replayed into swtpm PCRs, policy without boot_pcrs", "platform",
		plat_fake_boot_no_reference),
	FORGERY("boot replayed, boot_pcrs pin 0-7 but not PCR 9 (initrd)", "platform",
		plat_fake_boot_firmware_reference),
	FORGERY("boot replayed into swtpm PCRs, other boot_pcrs", "platform",
		plat_fake_boot_other_reference),
	FORGERY("boot replayed into swtpm PCRs, its boot_pcrs (control)", NULL,
		plat_fake_boot_its_reference),
};

const struct forgery_table cases_platform = {"platform and policy", cases_platform_list,
					     sizeof(cases_platform_list) /
						     sizeof(cases_platform_list[0])};
