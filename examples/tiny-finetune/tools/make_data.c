/* tiny_finetune_make_data: writes the example's train.csv and eval.csv into
 * a directory (default: the current one). Three interleaved spirals of 1.5
 * turns, t in [0.05, 1], noise 0.03; train 3000 rows from seed 1001, eval
 * 1200 rows from seed 1002; five decimals. The same program gives the same
 * bytes everywhere: see fmath.h. */
#include <stdio.h>

#include "dataset.h"
#include "spiral.h"
#include "tferr.h"
#include "tfdata.h"

static int write_one(const char *dir, const char *name, size_t rows, uint64_t seed, struct tferr *e)
{
	struct spiral_opts o = TFDATA_FINETUNE_SPIRALS;
	struct dataset *ds = NULL;
	char path[4096];
	int r;

	o.rows = rows;
	o.seed = seed;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return tferr_set(e, TFERR_USAGE, "%s: path too long", dir);
	r = spiral_generate(&o, &ds, e);
	if (r == 0)
		r = dataset_save_csv(path, ds, TFDATA_DECIMALS, e);
	if (r == 0)
		printf("wrote %s: %zu rows\n", path, rows);
	dataset_free(ds);
	return r;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	struct tferr e = {{0}};
	int r;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: tiny_finetune_make_data [DIR]\n");
		return 2;
	}
	r = write_one(dir, "train.csv", TFDATA_TRAIN_ROWS, TFDATA_TRAIN_SEED, &e);
	if (r == 0)
		r = write_one(dir, "eval.csv", TFDATA_EVAL_ROWS, TFDATA_EVAL_SEED, &e);
	if (r < 0) {
		fprintf(stderr, "tiny_finetune_make_data: %s\n", e.msg);
		return 1;
	}
	return 0;
}
