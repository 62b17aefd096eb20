/* The fine-tuning job: see finetune.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, open_memstream */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "fileutil.h"
#include "finetune.h"
#include "mlp.h"
#include "safetensors.h"
#include "tferr.h"
#include "trainer.h"

struct run {
	const struct finetune_opts *o;
	struct safetensors *base;
	struct mlp *m;
	struct dataset *train, *eval;
	struct trainer *t;
	struct trainer_eval train_before, train_after, eval_before, eval_after;
	double *epoch_loss;
};

static void run_free(struct run *r)
{
	trainer_free(r->t);
	dataset_free(r->eval);
	dataset_free(r->train);
	mlp_free(r->m);
	safetensors_free(r->base);
	free(r->epoch_loss);
}

static int load_inputs(struct run *r, struct tferr *e)
{
	const struct finetune_opts *o = r->o;
	struct trainer_opts to = {o->epochs, o->batch, o->lr, o->seed, o->threads};
	int rc;

	rc = safetensors_load(o->base, &r->base, e);
	if (rc == 0) {
		rc = mlp_from_safetensors(r->base, &r->m, e);
		if (rc < 0)
			tferr_wrap(e, rc, "%s", o->base);
	}
	if (rc == 0)
		rc = dataset_load_csv(o->train, &r->train, e);
	if (rc == 0 && o->eval)
		rc = dataset_load_csv(o->eval, &r->eval, e);
	if (rc == 0 && r->eval)
		rc = trainer_check(r->m, r->eval, o->eval, e);
	if (rc == 0)
		rc = trainer_check(r->m, r->train, o->train, e);
	if (rc == 0)
		rc = trainer_new(r->m, r->train, &to, &r->t, e);
	if (rc == 0) {
		r->epoch_loss = calloc(o->epochs ? o->epochs : 1, sizeof(*r->epoch_loss));
		if (!r->epoch_loss)
			rc = tferr_set(e, TFERR_NOMEM, "out of memory");
	}
	return rc;
}

static void print_eval(FILE *f, const char *what, const struct trainer_eval *ev)
{
	fprintf(f, "  %s loss %.4f acc %.4f", what, ev->loss, ev->accuracy);
}

static void print_model(const struct run *r, FILE *f)
{
	fprintf(f, "model: MLP ");
	for (size_t l = 0; l <= r->m->n_layers; l++)
		fprintf(f, "%s%zu", l ? "-" : "", r->m->dims[l]);
	fprintf(f, ", %zu parameters; train %zu rows", r->m->n_params, r->train->rows);
	if (r->eval)
		fprintf(f, ", eval %zu rows", r->eval->rows);
	fprintf(f, "\n");
}

static int train_epochs(struct run *r, FILE *f, struct tferr *e)
{
	int rc;

	trainer_evaluate(r->t, r->train, &r->train_before);
	r->train_after = r->train_before;
	if (r->eval) {
		trainer_evaluate(r->t, r->eval, &r->eval_before);
		r->eval_after = r->eval_before;
	}
	if (f) {
		print_model(r, f);
		fprintf(f, "before:");
		print_eval(f, "train", &r->train_before);
		if (r->eval)
			print_eval(f, "eval", &r->eval_before);
		fprintf(f, "\n");
		fflush(f);
	}
	for (unsigned ep = 0; ep < r->o->epochs; ep++) {
		rc = trainer_epoch(r->t, &r->epoch_loss[ep], e);
		if (rc < 0)
			return rc;
		if (r->eval)
			trainer_evaluate(r->t, r->eval, &r->eval_after);
		if (f) {
			fprintf(f, "epoch %u/%u  loss %.4f", ep + 1, r->o->epochs,
				r->epoch_loss[ep]);
			if (r->eval)
				print_eval(f, "eval", &r->eval_after);
			fprintf(f, "\n");
			fflush(f);
		}
	}
	if (r->o->epochs > 0)
		trainer_evaluate(r->t, r->train, &r->train_after);
	return 0;
}

static int write_model(const struct run *r, struct tferr *e)
{
	char epochs[16], batch[16], lr[32], seed[32], steps[32], *path = NULL;
	const char *task = safetensors_meta_get(r->base, "task");
	struct safetensors_meta meta[8] = {
		{"format", "pt"},   {"producer", "aicert examples/tiny-finetune train"},
		{"epochs", epochs}, {"batch_size", batch},
		{"lr", lr},         {"seed", seed},
		{"steps", steps},
	};
	size_t n_meta = 7;
	int rc;

	snprintf(epochs, sizeof(epochs), "%u", r->o->epochs);
	snprintf(batch, sizeof(batch), "%u", r->o->batch);
	snprintf(lr, sizeof(lr), "%.9g", r->o->lr);
	snprintf(seed, sizeof(seed), "%llu", (unsigned long long)r->o->seed);
	snprintf(steps, sizeof(steps), "%llu", (unsigned long long)trainer_steps(r->t));
	if (task)
		meta[n_meta++] = (struct safetensors_meta){"task", (char *)task};
	if (asprintf(&path, "%s/model.safetensors", r->o->out) < 0)
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	rc = mlp_save(r->m, path, meta, n_meta, e);
	free(path);
	return rc;
}

static void put_eval(FILE *f, const char *name, size_t rows, const struct trainer_eval *before,
		     const struct trainer_eval *after)
{
	fprintf(f,
		"  \"%s\": {\"rows\": %zu, \"loss_before\": %.6f, \"loss_after\": %.6f, "
		"\"accuracy_before\": %.6f, \"accuracy_after\": %.6f},\n",
		name, rows, before->loss, after->loss, before->accuracy, after->accuracy);
}

static void put_metrics(const struct run *r, FILE *f)
{
	const struct mlp *m = r->m;
	uint64_t train_flos = trainer_train_flops(r->t), eval_flos = trainer_eval_flops(r->t);

	fprintf(f, "{\n  \"model\": {\"layers\": [");
	for (size_t l = 0; l <= m->n_layers; l++)
		fprintf(f, "%s%zu", l ? ", " : "", m->dims[l]);
	fprintf(f, "], \"activation\": \"relu\", \"parameters\": %zu, \"weights\": %llu},\n",
		m->n_params, (unsigned long long)mlp_weights(m));
	fprintf(f,
		"  \"optimizer\": {\"name\": \"adam\", \"lr\": %.9g, \"lr_schedule\": \"linear\", "
		"\"betas\": [%g, %g], \"eps\": %g, \"batch_size\": %u, \"seed\": %llu},\n",
		r->o->lr, TRAINER_BETA1, TRAINER_BETA2, TRAINER_EPS, r->o->batch,
		(unsigned long long)r->o->seed);
	fprintf(f, "  \"epochs\": %u,\n  \"steps\": %llu,\n  \"samples\": %llu,\n", r->o->epochs,
		(unsigned long long)trainer_steps(r->t), (unsigned long long)trainer_samples(r->t));
	put_eval(f, "train", r->train->rows, &r->train_before, &r->train_after);
	if (r->eval)
		put_eval(f, "eval", r->eval->rows, &r->eval_before, &r->eval_after);
	fprintf(f, "  \"epoch_loss\": [");
	for (unsigned ep = 0; ep < r->o->epochs; ep++)
		fprintf(f, "%s%.6f", ep ? ", " : "", r->epoch_loss[ep]);
	fprintf(f, "],\n");
	fprintf(f, "  \"flos_per_train_sample\": %llu,\n  \"flos_per_eval_sample\": %llu,\n",
		(unsigned long long)mlp_flops_train(m), (unsigned long long)mlp_flops_forward(m));
	fprintf(f, "  \"train_flos\": %llu,\n  \"eval_flos\": %llu,\n  \"total_flos\": %llu\n}\n",
		(unsigned long long)train_flos, (unsigned long long)eval_flos,
		(unsigned long long)(train_flos + eval_flos));
}

static int write_metrics(const struct run *r, struct tferr *e)
{
	char *text = NULL, *path = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	f = open_memstream(&text, &len);
	if (!f)
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	put_metrics(r, f);
	if (fclose(f) != 0 || asprintf(&path, "%s/metrics.json", r->o->out) < 0) {
		free(text);
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	}
	rc = fileutil_write(path, text, len, e);
	free(path);
	free(text);
	return rc;
}

int finetune_run(const struct finetune_opts *o, FILE *progress, struct tferr *e)
{
	struct run r = {.o = o};
	int rc;

	rc = load_inputs(&r, e);
	if (rc == 0)
		rc = fileutil_mkdir(o->out, e);
	if (rc == 0)
		rc = train_epochs(&r, progress, e);
	if (rc == 0)
		rc = write_model(&r, e);
	if (rc == 0)
		rc = write_metrics(&r, e);
	if (rc == 0 && progress) {
		fprintf(progress, "after: ");
		print_eval(progress, "train", &r.train_after);
		if (r.eval)
			print_eval(progress, "eval", &r.eval_after);
		fprintf(progress,
			"\nwrote %s/model.safetensors and %s/metrics.json: %llu steps, "
			"total_flos %llu\n",
			o->out, o->out, (unsigned long long)trainer_steps(r.t),
			(unsigned long long)(trainer_train_flops(r.t) + trainer_eval_flops(r.t)));
	}
	run_free(&r);
	return rc;
}
