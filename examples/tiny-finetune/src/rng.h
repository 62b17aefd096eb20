/* A seeded pseudo-random generator (xoshiro256**, seeded through
 * splitmix64): the same seed gives the same stream on every platform. */
#ifndef TF_RNG_H
#define TF_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

void rng_seed(struct rng *g, uint64_t seed);
uint64_t rng_next(struct rng *g);

/* Uniform in [0, 1), 53 random bits. */
double rng_uniform(struct rng *g);

/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t rng_below(struct rng *g, uint64_t n);

#endif
