/* The fine-tuning job: load base weights and data, train, write
 * OUT/model.safetensors and OUT/metrics.json. The outputs depend only on the
 * bytes of the inputs and on epochs, batch, lr and seed: not on paths,
 * threads, time or machine. */
#ifndef TF_FINETUNE_H
#define TF_FINETUNE_H

#include <stdint.h>
#include <stdio.h>

struct tferr;

struct finetune_opts {
	const char *base;  /* base weights, safetensors */
	const char *train; /* training data, CSV */
	const char *eval;  /* evaluation data, CSV, or NULL */
	const char *out;   /* output directory, created if missing */
	unsigned epochs;
	unsigned batch;
	double lr;
	uint64_t seed;
	unsigned threads;
};

/* Defaults of the example's job. */
#define FINETUNE_EPOCHS 100
#define FINETUNE_BATCH  32
#define FINETUNE_LR     0.002
#define FINETUNE_SEED   1

/* Runs the job; progress lines go to progress if not NULL. */
int finetune_run(const struct finetune_opts *o, FILE *progress, struct tferr *e);

#endif
