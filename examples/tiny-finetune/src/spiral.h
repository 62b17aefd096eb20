/* The task's data: interleaved spirals. Arm a (of arms) is the curve
 *
 *   r = t,  angle = 2 pi (turns * t + a / arms),  t in [t_min, t_max]
 *
 * and a point is drawn on an arm, with t spread so that points are uniform
 * in area along it, then moved by noise in x and y (a sum of three uniforms,
 * standard deviation `noise`). The label is the arm. Rows cycle through the
 * arms, so classes are balanced. */
#ifndef TF_SPIRAL_H
#define TF_SPIRAL_H

#include <stddef.h>
#include <stdint.h>

struct dataset;
struct tferr;

struct spiral_opts {
	size_t rows;
	unsigned arms;
	double turns;
	double t_min, t_max;
	double noise;
	uint64_t seed;
};

int spiral_generate(const struct spiral_opts *o, struct dataset **ret, struct tferr *e);

#endif
