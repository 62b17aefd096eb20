/* xoshiro256** by David Blackman and Sebastiano Vigna (public domain), seeded
 * with splitmix64 as its authors recommend. */
#include <assert.h>

#include "rng.h"

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *g, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix64(&seed);
}

uint64_t rng_next(struct rng *g)
{
	uint64_t *s = g->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double rng_uniform(struct rng *g)
{
	return (double)(rng_next(g) >> 11) * 0x1.0p-53;
}

uint64_t rng_below(struct rng *g, uint64_t n)
{
	/* Reject the top partial block of 2^64 mod n values. */
	uint64_t limit = -n % n;
	uint64_t x;

	assert(n > 0);
	do {
		x = rng_next(g);
	} while (x < limit);
	return x % n;
}
