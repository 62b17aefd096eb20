/* tiny_finetune_make_base: writes the example's base.safetensors (default:
 * ./base.safetensors). The base model is an MLP 2-128-128-3, initialised as
 * PyTorch initialises nn.Linear from a fixed seed, then pre-trained briefly
 * on the inner half of the spirals (their first 3/4 turn): it knows the
 * centre of the task, not the outer turns that fine-tuning teaches it. The
 * recipe is in tfdata.h; the same program gives the same bytes everywhere. */
#include <stdio.h>

#include "dataset.h"
#include "mlp.h"
#include "rng.h"
#include "safetensors.h"
#include "spiral.h"
#include "tferr.h"
#include "tfdata.h"
#include "trainer.h"

/* The base's metadata: what it is and how it was made. */
static void save_meta(char task[160], char pre[160], struct safetensors_meta meta[4])
{
	snprintf(task, 160, "spirals: %d arms of %g turns, 2 inputs (x0, x1), label = arm",
		 TFDATA_ARMS, TFDATA_TURNS);
	snprintf(pre, 160,
		 "inner half of the spirals (t in [0.05, 0.5]), %d rows, %d epochs of Adam",
		 TFDATA_PRETRAIN_ROWS, TFDATA_PRETRAIN_EPOCHS);
	meta[0] = (struct safetensors_meta){"format", "pt"};
	meta[1] = (struct safetensors_meta){"producer", "aicert examples/tiny-finetune make_base"};
	meta[2] = (struct safetensors_meta){"task", task};
	meta[3] = (struct safetensors_meta){"pretraining", pre};
}

static int make_base(const char *path, struct tferr *e)
{
	struct spiral_opts so = TFDATA_PRETRAIN_SPIRALS;
	struct trainer_opts to = {TFDATA_PRETRAIN_EPOCHS, TFDATA_PRETRAIN_BATCH, TFDATA_PRETRAIN_LR,
				  TFDATA_PRETRAIN_SHUFFLE, 1};
	const size_t dims[] = {2, TFDATA_HIDDEN, TFDATA_HIDDEN, TFDATA_ARMS};
	struct dataset *ds = NULL;
	struct trainer *t = NULL;
	struct mlp *m = NULL;
	struct safetensors_meta meta[4];
	char task[160], pre[160];
	struct trainer_eval ev;
	struct rng g;
	double loss;
	int r;

	so.rows = TFDATA_PRETRAIN_ROWS;
	so.seed = TFDATA_PRETRAIN_SEED;
	r = spiral_generate(&so, &ds, e);
	if (r == 0)
		r = mlp_new(3, dims, &m, e);
	if (r < 0)
		goto out;
	rng_seed(&g, TFDATA_INIT_SEED);
	mlp_init(m, &g);
	r = trainer_new(m, ds, &to, &t, e);
	for (unsigned ep = 0; r == 0 && ep < to.epochs; ep++) {
		r = trainer_epoch(t, &loss, e);
		if (r == 0)
			printf("pre-training epoch %u/%u  loss %.4f\n", ep + 1, to.epochs, loss);
	}
	if (r < 0)
		goto out;
	trainer_evaluate(t, ds, &ev);
	printf("pre-training data: loss %.4f acc %.4f\n", ev.loss, ev.accuracy);
	save_meta(task, pre, meta);
	r = mlp_save(m, path, meta, 4, e);
	if (r == 0)
		printf("wrote %s: %zu parameters\n", path, m->n_params);
out:
	trainer_free(t);
	mlp_free(m);
	dataset_free(ds);
	return r;
}

int main(int argc, char **argv)
{
	struct tferr e = {{0}};

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: tiny_finetune_make_base [OUT.safetensors]\n");
		return 2;
	}
	if (make_base(argc > 1 ? argv[1] : "base.safetensors", &e) < 0) {
		fprintf(stderr, "tiny_finetune_make_base: %s\n", e.msg);
		return 1;
	}
	return 0;
}
