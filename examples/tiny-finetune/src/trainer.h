/* Mini-batch training of an MLP for classification: softmax cross-entropy,
 * Adam, a learning rate decaying linearly to zero over the run, shuffled
 * batches from a seeded generator.
 *
 * Deterministic for any number of threads: each batch is cut into
 * TRAINER_SHARDS fixed slices of rows, whatever the thread count; each
 * slice's gradient is summed over its rows in order into its own buffer; the
 * slices' gradients are then added in slice order. Threads only decide who
 * computes a slice, never the order of any sum, so --threads 1 and
 * --threads 4 give the same bits. */
#ifndef TF_TRAINER_H
#define TF_TRAINER_H

#include <stddef.h>
#include <stdint.h>

struct dataset;
struct mlp;
struct tferr;
struct trainer;

#define TRAINER_SHARDS    4
#define TRAINER_MAX_BATCH 4096

struct trainer_opts {
	unsigned epochs;  /* for the learning-rate schedule */
	size_t batch;     /* rows per step, 1..TRAINER_MAX_BATCH */
	double lr;        /* peak learning rate */
	uint64_t seed;    /* shuffling */
	unsigned threads; /* 1..TRAINER_SHARDS */
};

#define TRAINER_BETA1 0.9
#define TRAINER_BETA2 0.999
#define TRAINER_EPS   1e-8

struct trainer_eval {
	double loss;     /* mean cross-entropy, nats */
	double accuracy; /* fraction of rows whose largest logit is the label */
};

/* Whether ds fits m: as many features as m has inputs, labels below its
 * number of outputs. name is for the message. */
int trainer_check(const struct mlp *m, const struct dataset *ds, const char *name, struct tferr *e);

/* A trainer of m (which it updates, not owns) on rows of ds (which it reads,
 * not owns), shuffled in batches. Starts opts->threads - 1 threads. */
int trainer_new(struct mlp *m, const struct dataset *ds, const struct trainer_opts *opts,
		struct trainer **ret, struct tferr *e);

/* One pass over the data; *loss is the mean of the rows' losses as each
 * step's forward pass saw them. */
int trainer_epoch(struct trainer *t, double *loss, struct tferr *e);

/* Loss and accuracy of the current model on ds, without changing it. */
void trainer_evaluate(struct trainer *t, const struct dataset *ds, struct trainer_eval *out);

/* Optimiser steps taken, training rows processed, and matrix-multiply
 * floating-point operations performed in training and in evaluation. */
uint64_t trainer_steps(const struct trainer *t);
uint64_t trainer_samples(const struct trainer *t);
uint64_t trainer_train_flops(const struct trainer *t);
uint64_t trainer_eval_flops(const struct trainer *t);

/* Stops the threads and frees t; NULL is fine. */
void trainer_free(struct trainer *t);

#endif
