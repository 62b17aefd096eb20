/* Interleaved spirals: see spiral.h. */
#include <math.h>

#include "dataset.h"
#include "fmath.h"
#include "rng.h"
#include "spiral.h"
#include "tferr.h"

#define TWO_PI 6.283185307179586

/* Mean 0, standard deviation sd: (u1 + u2 + u3 - 1.5) has variance 1/4. */
static double noise(struct rng *g, double sd)
{
	double u = rng_uniform(g) + rng_uniform(g) + rng_uniform(g);

	return (u - 1.5) * 2 * sd;
}

int spiral_generate(const struct spiral_opts *o, struct dataset **ret, struct tferr *e)
{
	struct dataset *ds = NULL;
	struct rng g;
	double a2 = o->t_min * o->t_min, b2 = o->t_max * o->t_max;
	int r;

	if (o->arms < 2 || o->rows < o->arms || !(o->t_min >= 0 && o->t_max > o->t_min))
		return tferr_set(e, TFERR_USAGE,
				 "spirals: need 2+ arms, a row per arm, "
				 "0 <= t_min < t_max");
	r = dataset_new(o->rows, 2, &ds, e);
	if (r < 0)
		return r;
	rng_seed(&g, o->seed);
	for (size_t i = 0; i < o->rows; i++) {
		unsigned arm = (unsigned)(i % o->arms);
		double t = sqrt(a2 + rng_uniform(&g) * (b2 - a2));
		double s, c;

		fmath_sincos(TWO_PI * (o->turns * t + (double)arm / o->arms), &s, &c);
		ds->x[2 * i] = (float)(t * c + noise(&g, o->noise));
		ds->x[2 * i + 1] = (float)(t * s + noise(&g, o->noise));
		ds->y[i] = arm;
	}
	ds->classes = o->arms;
	*ret = ds;
	return 0;
}
