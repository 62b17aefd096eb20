/* Mini-batch training with a deterministic order of arithmetic for any
 * number of threads: see trainer.h. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "fmath.h"
#include "mlp.h"
#include "rng.h"
#include "tferr.h"
#include "trainer.h"

/* One slice of a batch and the buffers to compute it. */
struct shard {
	float *act[MLP_MAX_LAYERS + 1];
	float *delta[MLP_MAX_LAYERS + 1];
	float *grad;
	const uint32_t *rows; /* indices into the dataset, or NULL: first, first+1, ... */
	size_t first;
	size_t n_rows;
	double loss; /* sum over the slice's rows */
	size_t correct;
};

struct trainer {
	struct mlp *m;
	const struct dataset *ds;
	struct trainer_opts o;
	struct shard shards[TRAINER_SHARDS];
	float *grad, *adam_m, *adam_v;
	uint32_t *perm; /* the training rows, shuffled each epoch */
	struct rng rng;
	uint64_t steps, total_steps, samples, train_flops, eval_flops;
	double beta1_t, beta2_t; /* beta^steps */

	/* The work the threads share, handed out by generation. */
	const struct dataset *work;
	int training;
	size_t batch_rows;
	pthread_mutex_t mu;
	pthread_cond_t start, done;
	uint64_t gen;
	unsigned pending;
	int quit;
	struct worker {
		struct trainer *t;
		unsigned k;
		pthread_t thread;
	} workers[TRAINER_SHARDS];
	unsigned n_threads; /* started workers, besides the caller */
};

int trainer_check(const struct mlp *m, const struct dataset *ds, const char *name, struct tferr *e)
{
	size_t outputs = m->dims[m->n_layers];

	if (ds->cols != m->dims[0])
		return tferr_set(e, TFERR_SHAPE,
				 "%s has %zu features, but the model (fc1.weight "
				 "[%zu, %zu]) takes %zu inputs",
				 name, ds->cols, m->dims[1], m->dims[0], m->dims[0]);
	if (ds->classes > outputs)
		return tferr_set(e, TFERR_SHAPE,
				 "%s has label %u, but the model (fc%zu.weight) "
				 "has %zu outputs, classes 0 to %zu",
				 name, ds->classes - 1, m->n_layers, outputs, outputs - 1);
	return 0;
}

/* Cross-entropy of one row's logits z (k of them) against label y; writes
 * the gradient over the logits, times scale, into d if it is not NULL. */
static double row_loss(const float *z, size_t k, uint32_t y, float *d, double scale,
		       size_t *correct)
{
	double max = z[0], sum = 0, lse;
	size_t best = 0;

	for (size_t i = 1; i < k; i++) {
		if (z[i] > max) {
			max = z[i];
			best = i;
		}
	}
	for (size_t i = 0; i < k; i++)
		sum += fmath_exp((double)z[i] - max);
	lse = max + fmath_log(sum);
	if (d)
		for (size_t i = 0; i < k; i++)
			d[i] = (float)((fmath_exp((double)z[i] - max) / sum - (i == y)) * scale);
	*correct += best == y;
	return lse - (double)z[y];
}

/* Forward (and, when training, backward) over one slice. */
static void run_shard(struct trainer *t, struct shard *s)
{
	const struct dataset *ds = t->work;
	size_t in = t->m->dims[0], out = t->m->dims[t->m->n_layers];
	double scale = 0;

	s->loss = 0;
	s->correct = 0;
	if (t->training) {
		memset(s->grad, 0, t->m->n_params * sizeof(*s->grad));
		scale = 1.0 / (double)t->batch_rows;
	}
	for (size_t r = 0; r < s->n_rows; r++) {
		size_t row = s->rows ? s->rows[r] : s->first + r;

		memcpy(s->act[0] + r * in, ds->x + row * in, in * sizeof(float));
	}
	mlp_forward(t->m, s->n_rows, s->act);
	for (size_t r = 0; r < s->n_rows; r++) {
		size_t row = s->rows ? s->rows[r] : s->first + r;
		float *d = t->training ? s->delta[t->m->n_layers] + r * out : NULL;

		s->loss += row_loss(s->act[t->m->n_layers] + r * out, out, ds->y[row], d, scale,
				    &s->correct);
	}
	if (t->training)
		mlp_backward(t->m, s->n_rows, s->act, s->delta, s->grad);
}

/* The slices computed by thread k (0 is the caller). */
static void run_mine(struct trainer *t, unsigned k)
{
	for (unsigned s = k; s < TRAINER_SHARDS; s += t->n_threads + 1)
		run_shard(t, &t->shards[s]);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct trainer *t = w->t;
	uint64_t seen = 0;

	pthread_mutex_lock(&t->mu);
	for (;;) {
		while (!t->quit && t->gen == seen)
			pthread_cond_wait(&t->start, &t->mu);
		if (t->quit)
			break;
		seen = t->gen;
		pthread_mutex_unlock(&t->mu);
		run_mine(t, w->k);
		pthread_mutex_lock(&t->mu);
		if (--t->pending == 0)
			pthread_cond_signal(&t->done);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

/* Runs every slice, on all threads, and waits for them. */
static void dispatch(struct trainer *t)
{
	if (t->n_threads > 0) {
		pthread_mutex_lock(&t->mu);
		t->pending = t->n_threads;
		t->gen++;
		pthread_cond_broadcast(&t->start);
		pthread_mutex_unlock(&t->mu);
	}
	run_mine(t, 0);
	if (t->n_threads > 0) {
		pthread_mutex_lock(&t->mu);
		while (t->pending > 0)
			pthread_cond_wait(&t->done, &t->mu);
		pthread_mutex_unlock(&t->mu);
	}
}

/* Cuts n rows (rows[], or first, first+1, ... if rows is NULL) into the
 * slices: slice s gets [n*s/S, n*(s+1)/S), whatever the thread count. */
static void split(struct trainer *t, const uint32_t *rows, size_t first, size_t n)
{
	for (size_t s = 0; s < TRAINER_SHARDS; s++) {
		size_t lo = n * s / TRAINER_SHARDS, hi = n * (s + 1) / TRAINER_SHARDS;

		t->shards[s].rows = rows ? rows + lo : NULL;
		t->shards[s].first = first + lo;
		t->shards[s].n_rows = hi - lo;
	}
}

static void stop_threads(struct trainer *t)
{
	pthread_mutex_lock(&t->mu);
	t->quit = 1;
	pthread_cond_broadcast(&t->start);
	pthread_mutex_unlock(&t->mu);
	for (unsigned k = 0; k < t->n_threads; k++)
		pthread_join(t->workers[k + 1].thread, NULL);
	t->n_threads = 0;
}

static int start_threads(struct trainer *t, struct tferr *e)
{
	for (unsigned k = 1; k < t->o.threads; k++) {
		t->workers[k].t = t;
		t->workers[k].k = k;
		if (pthread_create(&t->workers[k].thread, NULL, worker_main, &t->workers[k]) != 0) {
			stop_threads(t);
			return tferr_set(e, TFERR_NOMEM, "cannot start thread %u", k);
		}
		t->n_threads++;
	}
	return 0;
}

static int alloc_buffers(struct trainer *t, struct tferr *e)
{
	const struct mlp *m = t->m;
	size_t rows = (t->o.batch + TRAINER_SHARDS - 1) / TRAINER_SHARDS;
	int ok = 1;

	for (size_t s = 0; s < TRAINER_SHARDS; s++) {
		struct shard *sh = &t->shards[s];

		for (size_t l = 0; l <= m->n_layers; l++) {
			sh->act[l] = calloc(rows * m->dims[l], sizeof(float));
			sh->delta[l] = calloc(rows * m->dims[l], sizeof(float));
			ok = ok && sh->act[l] && sh->delta[l];
		}
		sh->grad = calloc(m->n_params, sizeof(float));
		ok = ok && sh->grad;
	}
	t->grad = calloc(m->n_params, sizeof(float));
	t->adam_m = calloc(m->n_params, sizeof(float));
	t->adam_v = calloc(m->n_params, sizeof(float));
	t->perm = calloc(t->ds->rows, sizeof(*t->perm));
	if (!ok || !t->grad || !t->adam_m || !t->adam_v || !t->perm)
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	for (size_t i = 0; i < t->ds->rows; i++)
		t->perm[i] = (uint32_t)i;
	return 0;
}

int trainer_new(struct mlp *m, const struct dataset *ds, const struct trainer_opts *opts,
		struct trainer **ret, struct tferr *e)
{
	struct trainer *t;
	int r;

	if (opts->batch < 1 || opts->batch > TRAINER_MAX_BATCH || opts->threads < 1 ||
	    opts->threads > TRAINER_SHARDS || !(opts->lr > 0))
		return tferr_set(e, TFERR_USAGE, "batch 1..%d, threads 1..%d, lr > 0",
				 TRAINER_MAX_BATCH, TRAINER_SHARDS);
	r = trainer_check(m, ds, "the training data", e);
	if (r < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (!t)
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	t->m = m;
	t->ds = ds;
	t->o = *opts;
	t->total_steps = (uint64_t)opts->epochs * ((ds->rows + opts->batch - 1) / opts->batch);
	t->beta1_t = 1;
	t->beta2_t = 1;
	rng_seed(&t->rng, opts->seed);
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->start, NULL);
	pthread_cond_init(&t->done, NULL);
	r = alloc_buffers(t, e);
	if (r == 0)
		r = start_threads(t, e);
	if (r < 0) {
		trainer_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void trainer_free(struct trainer *t)
{
	if (!t)
		return;
	stop_threads(t);
	for (size_t s = 0; s < TRAINER_SHARDS; s++) {
		for (size_t l = 0; l <= MLP_MAX_LAYERS; l++) {
			free(t->shards[s].act[l]);
			free(t->shards[s].delta[l]);
		}
		free(t->shards[s].grad);
	}
	free(t->grad);
	free(t->adam_m);
	free(t->adam_v);
	free(t->perm);
	pthread_cond_destroy(&t->start);
	pthread_cond_destroy(&t->done);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

/* Fisher-Yates over the previous order. */
static void shuffle(struct trainer *t)
{
	for (size_t i = t->ds->rows; i > 1; i--) {
		size_t j = (size_t)rng_below(&t->rng, i);
		uint32_t tmp = t->perm[i - 1];

		t->perm[i - 1] = t->perm[j];
		t->perm[j] = tmp;
	}
}

/* The slices' gradients, added in slice order. */
static void reduce(struct trainer *t)
{
	size_t n = t->m->n_params;

	memcpy(t->grad, t->shards[0].grad, n * sizeof(*t->grad));
	for (size_t s = 1; s < TRAINER_SHARDS; s++) {
		const float *g = t->shards[s].grad;

		for (size_t i = 0; i < n; i++)
			t->grad[i] += g[i];
	}
}

/* One Adam step (Kingma & Ba, as torch.optim.Adam computes it) with the
 * learning rate decayed linearly: lr * (1 - steps / total_steps). */
static void adam_step(struct trainer *t)
{
	const float b1 = (float)TRAINER_BETA1, b2 = (float)TRAINER_BETA2;
	const float c1 = (float)(1 - TRAINER_BETA1), c2 = (float)(1 - TRAINER_BETA2);
	const float eps = (float)TRAINER_EPS;
	double lr = t->o.lr * (1.0 - (double)t->steps / (double)t->total_steps);
	float step_size, bc2_sqrt;
	float *p = t->m->params;

	t->beta1_t *= TRAINER_BETA1;
	t->beta2_t *= TRAINER_BETA2;
	step_size = (float)(lr / (1 - t->beta1_t));
	bc2_sqrt = (float)sqrt(1 - t->beta2_t);
	for (size_t i = 0; i < t->m->n_params; i++) {
		float g = t->grad[i];

		t->adam_m[i] = b1 * t->adam_m[i] + c1 * g;
		t->adam_v[i] = b2 * t->adam_v[i] + c2 * g * g;
		p[i] -= step_size * t->adam_m[i] / (sqrtf(t->adam_v[i]) / bc2_sqrt + eps);
	}
	mlp_sync(t->m);
	t->steps++;
}

int trainer_epoch(struct trainer *t, double *loss, struct tferr *e)
{
	size_t n = t->ds->rows;
	double sum = 0;

	shuffle(t);
	t->work = t->ds;
	t->training = 1;
	for (size_t start = 0; start < n; start += t->o.batch) {
		size_t rows = n - start < t->o.batch ? n - start : t->o.batch;

		split(t, t->perm + start, 0, rows);
		t->batch_rows = rows;
		dispatch(t);
		for (size_t s = 0; s < TRAINER_SHARDS; s++)
			sum += t->shards[s].loss;
		if (!isfinite(sum))
			return tferr_set(e, TFERR_SHAPE,
					 "the loss is not finite at step %llu: "
					 "training diverged, try a lower --lr",
					 (unsigned long long)t->steps + 1);
		reduce(t);
		adam_step(t);
		t->samples += rows;
		t->train_flops += rows * mlp_flops_train(t->m);
	}
	*loss = sum / (double)n;
	return 0;
}

void trainer_evaluate(struct trainer *t, const struct dataset *ds, struct trainer_eval *out)
{
	double sum = 0;
	size_t correct = 0;

	t->work = ds;
	t->training = 0;
	for (size_t start = 0; start < ds->rows; start += t->o.batch) {
		size_t rows = ds->rows - start < t->o.batch ? ds->rows - start : t->o.batch;

		split(t, NULL, start, rows);
		dispatch(t);
		for (size_t s = 0; s < TRAINER_SHARDS; s++) {
			sum += t->shards[s].loss;
			correct += t->shards[s].correct;
		}
	}
	t->eval_flops += ds->rows * mlp_flops_forward(t->m);
	out->loss = sum / (double)ds->rows;
	out->accuracy = (double)correct / (double)ds->rows;
}

uint64_t trainer_steps(const struct trainer *t)
{
	return t->steps;
}

uint64_t trainer_samples(const struct trainer *t)
{
	return t->samples;
}

uint64_t trainer_train_flops(const struct trainer *t)
{
	return t->train_flops;
}

uint64_t trainer_eval_flops(const struct trainer *t)
{
	return t->eval_flops;
}
