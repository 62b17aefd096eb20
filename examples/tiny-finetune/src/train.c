/* tiny_finetune_train: fine-tunes the base MLP on a CSV dataset and writes
 * OUT/model.safetensors and OUT/metrics.json. A thin main over finetune.c.
 *
 * Exit status: 0 done; 1 the job failed (an input that is missing,
 * malformed or does not fit the model; an output that cannot be written);
 * 2 bad arguments. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finetune.h"
#include "tferr.h"
#include "trainer.h"

static const char usage[] =
	"usage: tiny_finetune_train --base BASE.safetensors --data TRAIN.csv [--eval EVAL.csv]\n"
	"                           --out DIR [--epochs N] [--batch N] [--lr X] [--seed S]\n"
	"                           [--threads T]\n"
	"Fine-tunes the MLP in BASE on TRAIN; writes DIR/model.safetensors, DIR/metrics.json.\n"
	"Defaults: --epochs %d --batch %d --lr %g --seed %d --threads 1 (1 to %d; the\n"
	"outputs are the same for any thread count).\n";

static int parse_uint(const char *opt, const char *s, unsigned long long min,
		      unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max) {
		fprintf(stderr,
			"tiny_finetune_train: %s: expected an integer from %llu to %llu, got \"%s\"\n",
			opt, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_lr(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v) || v <= 0 || v > 1) {
		fprintf(stderr,
			"tiny_finetune_train: --lr: expected a number in (0, 1], got \"%s\"\n", s);
		return -1;
	}
	*out = v;
	return 0;
}

/* One option's value into o; -1 after a message on a bad value. */
static int set_option(struct finetune_opts *o, int c, const char *arg)
{
	unsigned long long v = 0;
	int r = 0;

	switch (c) {
	case 'b':
		o->base = arg;
		break;
	case 'd':
		o->train = arg;
		break;
	case 'v':
		o->eval = arg;
		break;
	case 'o':
		o->out = arg;
		break;
	case 'e':
		r = parse_uint("--epochs", arg, 0, 100000, &v);
		o->epochs = (unsigned)v;
		break;
	case 'B':
		r = parse_uint("--batch", arg, 1, TRAINER_MAX_BATCH, &v);
		o->batch = (unsigned)v;
		break;
	case 'l':
		r = parse_lr(arg, &o->lr);
		break;
	case 's':
		r = parse_uint("--seed", arg, 0, UINT64_MAX, &v);
		o->seed = v;
		break;
	case 't':
		r = parse_uint("--threads", arg, 1, TRAINER_SHARDS, &v);
		o->threads = (unsigned)v;
		break;
	default:
		r = -1;
	}
	return r;
}

static int parse_args(int argc, char **argv, struct finetune_opts *o)
{
	static const struct option longopts[] = {
		{"base", required_argument, NULL, 'b'},
		{"data", required_argument, NULL, 'd'},
		{"eval", required_argument, NULL, 'v'},
		{"out", required_argument, NULL, 'o'},
		{"epochs", required_argument, NULL, 'e'},
		{"batch", required_argument, NULL, 'B'},
		{"lr", required_argument, NULL, 'l'},
		{"seed", required_argument, NULL, 's'},
		{"threads", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'h') {
			printf(usage, FINETUNE_EPOCHS, FINETUNE_BATCH, FINETUNE_LR, FINETUNE_SEED,
			       TRAINER_SHARDS);
			exit(0);
		}
		if (set_option(o, c, optarg) < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "tiny_finetune_train: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	if (!o->base || !o->train || !o->out) {
		fprintf(stderr, "tiny_finetune_train: --base, --data and --out are required\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct finetune_opts o = {
		.epochs = FINETUNE_EPOCHS,
		.batch = FINETUNE_BATCH,
		.lr = FINETUNE_LR,
		.seed = FINETUNE_SEED,
		.threads = 1,
	};
	struct tferr e = {{0}};
	int r;

	if (parse_args(argc, argv, &o) < 0) {
		fprintf(stderr, usage, FINETUNE_EPOCHS, FINETUNE_BATCH, FINETUNE_LR, FINETUNE_SEED,
			TRAINER_SHARDS);
		return 2;
	}
	r = finetune_run(&o, stdout, &e);
	if (r < 0) {
		fprintf(stderr, "tiny_finetune_train: %s: %s\n", tferr_str(r), e.msg);
		return 1;
	}
	return 0;
}
