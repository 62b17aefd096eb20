/* bench_verify PROOF POLICY QUOTE_DIR QUALIFYING_HEX [ITERS]
 *
 * Times aicert_verify() on one proof (no --model hashing), single-threaded,
 * against tpm2_checkquote on the same quote exported to QUOTE_DIR, in the
 * same run. Prints proofs per second and the ratio. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aicert_verify.h"
#include "err.h"
#include "fileio.h"
#include "proof.h"

static double bv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bv_checkquote(const char *dir, const char *q)
{
	char u[512], m[512], s[512], f[512];
	pid_t pid;
	int st;

	snprintf(u, sizeof(u), "%s/ak.pub.pem", dir);
	snprintf(m, sizeof(m), "%s/quote.msg", dir);
	snprintf(s, sizeof(s), "%s/quote.sig", dir);
	snprintf(f, sizeof(f), "%s/quote.pcrs", dir);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execlp("tpm2_checkquote", "tpm2_checkquote", "-u", u, "-m", m, "-s", s, "-f", f,
		       "-g", "sha256", "-q", q, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
	struct aicert_verify_opts opts = {0};
	int iters = argc > 5 ? atoi(argv[5]) : 2000, cq_iters;
	struct aicert_policy *pol = NULL;
	double t0, ours, preloaded, theirs;
	uint8_t *buf = NULL;
	size_t len;

	if (argc < 5) {
		fprintf(stderr,
			"usage: bench_verify PROOF POLICY QUOTE_DIR QUALIFYING_HEX [ITERS]\n");
		return 2;
	}
	setenv("TSS2_LOG", "all+NONE", 0);
	if (fileio_read_all(argv[1], PROOF_MAX_BYTES, &buf, &len) < 0) {
		fprintf(stderr, "%s\n", err_msg(AICERT_ERR_IO));
		return 2;
	}
	opts.policy_path = argv[2];
	/* Warm up, and make sure the proof verifies: a rejection is fast. */
	for (int i = 0; i < 20; i++) {
		struct aicert_result *res = NULL;
		int r = aicert_verify(argv[1], buf, len, &opts, &res);

		aicert_result_free(res);
		if (r != 0) {
			fprintf(stderr, "the proof does not verify: %s\n", err_msg(r));
			return 1;
		}
	}
	t0 = bv_now();
	for (int i = 0; i < iters; i++) {
		struct aicert_result *res = NULL;

		aicert_verify(argv[1], buf, len, &opts, &res);
		aicert_result_free(res);
	}
	ours = (bv_now() - t0) / iters;
	/* A verifier of many proofs loads its policy once. */
	if (aicert_policy_load(argv[2], &pol) < 0)
		return 2;
	opts.policy = pol;
	t0 = bv_now();
	for (int i = 0; i < iters; i++) {
		struct aicert_result *res = NULL;

		aicert_verify(argv[1], buf, len, &opts, &res);
		aicert_result_free(res);
	}
	preloaded = (bv_now() - t0) / iters;
	aicert_policy_free(pol);
	if (bv_checkquote(argv[3], argv[4]) != 0) {
		fprintf(stderr, "tpm2_checkquote rejects the exported quote\n");
		return 1;
	}
	cq_iters = iters / 10 > 20 ? iters / 10 : 20;
	t0 = bv_now();
	for (int i = 0; i < cq_iters; i++)
		bv_checkquote(argv[3], argv[4]);
	theirs = (bv_now() - t0) / cq_iters;
	printf("aicert_verify (whole proof, policy loaded each time): %8.1f us  %7.0f proofs/s "
	       "(%d runs)\n",
	       ours * 1e6, 1 / ours, iters);
	printf("aicert_verify (whole proof, policy loaded once):      %8.1f us  %7.0f proofs/s\n",
	       preloaded * 1e6, 1 / preloaded);
	printf("tpm2_checkquote (the quote alone, a process each):   %8.1f us  %7.0f quotes/s "
	       "(%d runs)\n",
	       theirs * 1e6, 1 / theirs, cq_iters);
	printf("aicert_verify / tpm2_checkquote time: %.3fx (policy loaded each time), %.3fx "
	       "(once); target over 500 proofs/s on one core: %s\n",
	       ours / theirs, preloaded / theirs, 1 / ours > 500 ? "met" : "NOT met");
	free(buf);
	return 0;
}
