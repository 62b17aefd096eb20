/* Unit tests for the tpm2-tools quote files: the byte layout of the
 * "serialized" PCR file, the four files tpm2tools_write_quote() writes, and,
 * when tpm2_checkquote is installed, that it accepts them (and refuses a
 * wrong nonce or a changed PCR value). No TPM is needed: tpm2_checkquote
 * only verifies the signature with the PEM key and recomputes pcrDigest.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "tpm2tools.h"
#include "tpmkey.h"

#define AK_ATTRS                                                                                   \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |        \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)
#define MAX_VALUES 16

extern char **environ;

static EVP_PKEY *p256;
static EVP_PKEY *rsa2048;

static const uint8_t nonce[] = {0x6e, 0x6f, 0x6e, 0x63, 0x65, 0x21, 0x00, 0xff};

/* A signed quote and everything tpm2tools_write_quote() takes. */
struct quote {
	TPML_PCR_SELECTION sel;
	uint8_t digests[MAX_VALUES][64];
	struct attest_pcr_value values[MAX_VALUES];
	size_t n;
	uint8_t msg[sizeof(TPMS_ATTEST)];
	size_t msg_len;
	uint8_t sig[1024];
	size_t sig_len;
	TPMT_PUBLIC ak;
};

static int group_setup(void **state)
{
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return p256 && rsa2048 ? 0 : -1;
}

static int group_teardown(void **state)
{
	EVP_PKEY_free(p256);
	EVP_PKEY_free(rsa2048);
	return 0;
}

/* Adds PCR pcr of bank (index b of the selection) with a recognisable value. */
static void add_pcr(struct quote *q, size_t b, uint16_t bank, unsigned pcr)
{
	TPMS_PCR_SELECTION *s = &q->sel.pcrSelections[b];
	size_t size = tpmkey_hash_size(bank);

	assert_true(q->n < MAX_VALUES);
	if (q->sel.count <= b)
		q->sel.count = (UINT32)b + 1;
	s->hash = bank;
	s->sizeofSelect = 3;
	s->pcrSelect[pcr / 8] |= (uint8_t)(1u << (pcr % 8));
	memset(q->digests[q->n], (int)(pcr * 3 + b + 1), size);
	q->values[q->n] = (struct attest_pcr_value){bank, pcr, q->digests[q->n], size};
	q->n++;
}

static void sign_ecdsa(struct quote *q)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	TPMT_SIGNATURE sig;
	uint8_t der[128];
	size_t der_len = sizeof(der), off = 0;
	const uint8_t *p = der;
	ECDSA_SIG *es;

	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, p256), 1);
	assert_int_equal(EVP_DigestSign(ctx, der, &der_len, q->msg, q->msg_len), 1);
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	assert_non_null(es);
	memset(&sig, 0, sizeof(sig));
	sig.sigAlg = TPM2_ALG_ECDSA;
	sig.signature.ecdsa.hash = TPM2_ALG_SHA256;
	sig.signature.ecdsa.signatureR.size = 32;
	sig.signature.ecdsa.signatureS.size = 32;
	BN_bn2binpad(ECDSA_SIG_get0_r(es), sig.signature.ecdsa.signatureR.buffer, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(es), sig.signature.ecdsa.signatureS.buffer, 32);
	assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, q->sig, sizeof(q->sig), &off), 0);
	q->sig_len = off;
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(tpmkey_from_evp(p256, AK_ATTRS, &q->ak), 0);
}

static void sign_rsassa(struct quote *q)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	TPMT_SIGNATURE sig;
	size_t len = sizeof(sig.signature.rsassa.sig.buffer), off = 0;

	memset(&sig, 0, sizeof(sig));
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, rsa2048), 1);
	assert_int_equal(
		EVP_DigestSign(ctx, sig.signature.rsassa.sig.buffer, &len, q->msg, q->msg_len), 1);
	sig.sigAlg = TPM2_ALG_RSASSA;
	sig.signature.rsassa.hash = TPM2_ALG_SHA256;
	sig.signature.rsassa.sig.size = (UINT16)len;
	assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, q->sig, sizeof(q->sig), &off), 0);
	q->sig_len = off;
	EVP_MD_CTX_free(ctx);
	assert_int_equal(tpmkey_from_evp(rsa2048, AK_ATTRS, &q->ak), 0);
}

/* Makes the TPMS_ATTEST over q's PCRs (added in selection order). */
static void make_attest(struct quote *q)
{
	TPMS_ATTEST a;
	size_t off = 0;

	memset(&a, 0, sizeof(a));
	a.magic = TPM2_GENERATED_VALUE;
	a.type = TPM2_ST_ATTEST_QUOTE;
	a.qualifiedSigner.size = 34;
	a.qualifiedSigner.name[1] = 0x0b;
	a.extraData.size = sizeof(nonce);
	memcpy(a.extraData.buffer, nonce, sizeof(nonce));
	a.clockInfo.clock = 42;
	a.clockInfo.safe = 1;
	a.firmwareVersion = 0x0001000200030004ull;
	a.attested.quote.pcrSelect = q->sel;
	assert_int_equal(
		attest_pcr_digest(TPM2_ALG_SHA256, q->values, q->n, &a.attested.quote.pcrDigest),
		0);
	assert_int_equal(Tss2_MU_TPMS_ATTEST_Marshal(&a, q->msg, sizeof(q->msg), &off), 0);
	q->msg_len = off;
}

/* sha256 PCRs 0, 7, 14. */
static void small_quote(struct quote *q)
{
	memset(q, 0, sizeof(*q));
	add_pcr(q, 0, TPM2_ALG_SHA256, 0);
	add_pcr(q, 0, TPM2_ALG_SHA256, 7);
	add_pcr(q, 0, TPM2_ALG_SHA256, 14);
	make_attest(q);
}

/* sha256 PCRs 0..9 and sha1 PCRs 0 and 1: twelve values, two lists. */
static void large_quote(struct quote *q)
{
	memset(q, 0, sizeof(*q));
	for (unsigned pcr = 0; pcr < 10; pcr++)
		add_pcr(q, 0, TPM2_ALG_SHA256, pcr);
	add_pcr(q, 1, TPM2_ALG_SHA1, 0);
	add_pcr(q, 1, TPM2_ALG_SHA1, 1);
	make_attest(q);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void tpm2tools_encodes_serialized_pcr_layout(void **state)
{
	struct quote q;
	uint8_t *buf = NULL;
	size_t len;

	small_quote(&q);
	assert_int_equal(tpm2tools_encode_pcrs(&q.sel, q.values, q.n, &buf, &len), 0);
	/* Measured with tpm2_quote 5.4: three sha256 PCRs give 668 bytes. */
	assert_int_equal(len, 668);
	assert_int_equal(le32(buf), 1);          /* TPML_PCR_SELECTION.count */
	assert_int_equal(le16(buf + 4), 0x000b); /* .hash */
	assert_int_equal(buf[6], 3);             /* .sizeofSelect */
	assert_int_equal(buf[7], 0x81);          /* PCRs 0 and 7 */
	assert_int_equal(buf[8], 0x40);          /* PCR 14 */
	assert_int_equal(buf[9], 0x00);
	assert_int_equal(le32(buf + 12), 0);  /* the second, unused entry */
	assert_int_equal(le32(buf + 132), 1); /* number of TPML_DIGEST */
	assert_int_equal(le32(buf + 136), 3); /* TPML_DIGEST.count */
	for (size_t i = 0; i < 3; i++) {
		const uint8_t *d = buf + 140 + 66 * i;

		assert_int_equal(le16(d), 32);
		assert_memory_equal(d + 2, q.digests[i], 32);
	}
	assert_int_equal(le16(buf + 140 + 66 * 3), 0);
	free(buf);
}

static void tpm2tools_splits_digests_in_lists_of_eight(void **state)
{
	struct attest_pcr_value reversed[MAX_VALUES];
	struct quote q;
	uint8_t *buf = NULL;
	const uint8_t *list2;
	size_t len;

	large_quote(&q);
	/* The values may come in any order; the file has selection order. */
	for (size_t i = 0; i < q.n; i++)
		reversed[i] = q.values[q.n - 1 - i];
	assert_int_equal(tpm2tools_encode_pcrs(&q.sel, reversed, q.n, &buf, &len), 0);
	assert_int_equal(len, 132 + 4 + 2 * 532);
	assert_int_equal(le32(buf), 2);
	assert_int_equal(le16(buf + 12), 0x0004); /* second bank: sha1 */
	assert_int_equal(le32(buf + 132), 2);
	assert_int_equal(le32(buf + 136), 8);
	list2 = buf + 136 + 532;
	assert_int_equal(le32(list2), 4);
	assert_memory_equal(list2 + 4 + 2, q.digests[8], 32); /* sha256 PCR 8 */
	assert_int_equal(le16(list2 + 4 + 66 * 2), 20);       /* sha1 PCR 0 */
	assert_memory_equal(list2 + 4 + 66 * 2 + 2, q.digests[10], 20);
	free(buf);
}

static void tpm2tools_rejects_values_that_are_not_the_selection(void **state)
{
	struct quote q;
	uint8_t *buf = NULL;
	size_t len;

	small_quote(&q);
	assert_int_equal(tpm2tools_encode_pcrs(&q.sel, q.values, q.n - 1, &buf, &len),
			 AICERT_ERR_REJECTED);
	q.values[1].pcr = 8;
	assert_int_equal(tpm2tools_encode_pcrs(&q.sel, q.values, q.n, &buf, &len),
			 AICERT_ERR_REJECTED);
	assert_null(buf);
}

static void remove_dir(const char *dir)
{
	static const char *const names[] = {"quote.msg", "quote.sig", "quote.pcrs", "ak.pub.pem",
					    "checkquote.log"};
	char path[4096];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void read_file(const char *dir, const char *name, uint8_t **buf, size_t *len)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(fileio_read_all(path, 1 << 20, buf, len), 0);
}

static void tpm2tools_writes_four_files(void **state)
{
	char top[] = "/tmp/aicert-tpm2tools-XXXXXX";
	char dir[64];
	struct quote q;
	uint8_t *buf = NULL;
	size_t len;

	small_quote(&q);
	sign_ecdsa(&q);
	assert_non_null(mkdtemp(top));
	snprintf(dir, sizeof(dir), "%s/out", top);
	assert_int_equal(tpm2tools_write_quote(dir, q.msg, q.msg_len, q.sig, q.sig_len, q.values,
					       q.n, &q.ak),
			 0);
	read_file(dir, "quote.msg", &buf, &len);
	assert_int_equal(len, q.msg_len);
	assert_memory_equal(buf, q.msg, len);
	free(buf);
	read_file(dir, "quote.sig", &buf, &len);
	assert_int_equal(len, q.sig_len);
	assert_memory_equal(buf, q.sig, len);
	free(buf);
	read_file(dir, "quote.pcrs", &buf, &len);
	assert_int_equal(len, 668);
	free(buf);
	read_file(dir, "ak.pub.pem", &buf, &len);
	assert_non_null(strstr((char *)buf, "-----BEGIN PUBLIC KEY-----"));
	free(buf);
	remove_dir(dir);
	rmdir(top);
}

static void tpm2tools_write_refuses_what_does_not_parse(void **state)
{
	char dir[] = "/tmp/aicert-tpm2tools-XXXXXX";
	struct quote q;

	small_quote(&q);
	sign_ecdsa(&q);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(tpm2tools_write_quote(dir, q.msg, q.msg_len - 1, q.sig, q.sig_len,
					       q.values, q.n, &q.ak),
			 AICERT_ERR_INVALID);
	assert_int_equal(tpm2tools_write_quote(dir, q.msg, q.msg_len, q.sig, q.sig_len + 1,
					       q.values, q.n, &q.ak),
			 AICERT_ERR_INVALID);
	assert_int_equal(tpm2tools_write_quote(dir, q.msg, q.msg_len, q.sig, q.sig_len, q.values,
					       q.n - 1, &q.ak),
			 AICERT_ERR_REJECTED);
	/* Nothing was written. */
	assert_int_equal(rmdir(dir), 0);
}

/* Runs tpm2_checkquote on dir with qualification hex; returns its exit
 * status, or -1 when it is not installed. Its output goes to
 * dir/checkquote.log and is printed when status != expect. */
static int checkquote(const char *dir, const char *hex, int expect)
{
	char u[4096], m[4096], s[4096], f[4096], log[4096];
	char *argv[] = {"tpm2_checkquote", "-u", u,           "-m", m, "-s", s, "-f", f, "-g",
			"sha256",          "-q", (char *)hex, NULL};
	posix_spawn_file_actions_t fa;
	int status, r;
	pid_t pid;

	snprintf(u, sizeof(u), "%s/ak.pub.pem", dir);
	snprintf(m, sizeof(m), "%s/quote.msg", dir);
	snprintf(s, sizeof(s), "%s/quote.sig", dir);
	snprintf(f, sizeof(f), "%s/quote.pcrs", dir);
	snprintf(log, sizeof(log), "%s/checkquote.log", dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	r = posix_spawnp(&pid, "tpm2_checkquote", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r == ENOENT)
		return -1;
	assert_int_equal(r, 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != expect) {
		uint8_t *out = NULL;
		size_t len;

		read_file(dir, "checkquote.log", &out, &len);
		print_message("tpm2_checkquote -q %s exited %d:\n%s\n", hex, WEXITSTATUS(status),
			      (char *)out);
		free(out);
	}
	return WEXITSTATUS(status);
}

/* Writes q, and requires tpm2_checkquote to accept it with the right nonce
 * only. */
static void check_end_to_end(struct quote *q)
{
	char dir[] = "/tmp/aicert-tpm2tools-XXXXXX";
	char hex[2 * sizeof(nonce) + 1];
	int r;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(tpm2tools_write_quote(dir, q->msg, q->msg_len, q->sig, q->sig_len,
					       q->values, q->n, &q->ak),
			 0);
	hex_encode(nonce, sizeof(nonce), hex);
	r = checkquote(dir, hex, 0);
	if (r < 0) {
		remove_dir(dir);
		skip();
	}
	assert_int_equal(r, 0);
	assert_int_not_equal(checkquote(dir, "6e6f6e636521", 1), 0);

	/* A changed PCR value no longer matches pcrDigest. */
	q->digests[q->n - 1][0] ^= 1;
	assert_int_equal(tpm2tools_write_quote(dir, q->msg, q->msg_len, q->sig, q->sig_len,
					       q->values, q->n, &q->ak),
			 0);
	assert_int_not_equal(checkquote(dir, hex, 1), 0);
	q->digests[q->n - 1][0] ^= 1;
	remove_dir(dir);
}

static void tpm2_checkquote_accepts_ecdsa_quote(void **state)
{
	struct quote q;

	small_quote(&q);
	sign_ecdsa(&q);
	check_end_to_end(&q);
}

static void tpm2_checkquote_accepts_rsassa_quote_over_two_banks(void **state)
{
	struct quote q;

	large_quote(&q);
	sign_rsassa(&q);
	check_end_to_end(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tpm2tools_encodes_serialized_pcr_layout),
		cmocka_unit_test(tpm2tools_splits_digests_in_lists_of_eight),
		cmocka_unit_test(tpm2tools_rejects_values_that_are_not_the_selection),
		cmocka_unit_test(tpm2tools_writes_four_files),
		cmocka_unit_test(tpm2tools_write_refuses_what_does_not_parse),
		cmocka_unit_test(tpm2_checkquote_accepts_ecdsa_quote),
		cmocka_unit_test(tpm2_checkquote_accepts_rsassa_quote_over_two_banks),
	};

	setenv("TSS2_LOG", "all+NONE", 1);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
