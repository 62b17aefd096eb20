/* Deterministic elementary functions: see fmath.h. */
#include <math.h>

#include "fmath.h"

/* ln 2 and pi/2 split into a high part with trailing zero bits (so that k*hi
 * is exact for the k that occur here) and a low part. */
#define LN2_HI  6.93147180369123816490e-01
#define LN2_LO  1.90821492927058770002e-10
#define LOG2E   1.44269504088896338700e+00
#define PIO2_HI 1.57079632673412561417e+00
#define PIO2_LO 6.07710050650619224932e-11
#define TWOOPI  6.36619772367581382433e-01
#define SQRT1_2 7.07106781186547524401e-01
#define EXP_MAX 709.782712893384
#define EXP_MIN -745.1332191019412

/* Nearest integer of x, ties away from zero, for |x| < 2^52: exact. */
static double round_near(double x)
{
	return x >= 0 ? floor(x + 0.5) : -floor(-x + 0.5);
}

double fmath_exp(double x)
{
	double k, r, p;

	if (isnan(x))
		return x;
	if (x > EXP_MAX)
		return INFINITY;
	if (x < EXP_MIN)
		return 0.0;
	k = round_near(x * LOG2E);
	r = (x - k * LN2_HI) - k * LN2_LO; /* |r| <= 0.35 */
	/* Taylor series of e^r to degree 13, Horner form. */
	p = 1.0 / 6227020800.0;
	p = p * r + 1.0 / 479001600.0;
	p = p * r + 1.0 / 39916800.0;
	p = p * r + 1.0 / 3628800.0;
	p = p * r + 1.0 / 362880.0;
	p = p * r + 1.0 / 40320.0;
	p = p * r + 1.0 / 5040.0;
	p = p * r + 1.0 / 720.0;
	p = p * r + 1.0 / 120.0;
	p = p * r + 1.0 / 24.0;
	p = p * r + 1.0 / 6.0;
	p = p * r + 0.5;
	p = p * r + 1.0;
	p = p * r + 1.0;
	return ldexp(p, (int)k);
}

double fmath_log(double x)
{
	double m, s, s2, p;
	int e;

	if (isnan(x) || x < 0)
		return NAN;
	if (x == 0)
		return -INFINITY;
	if (isinf(x))
		return x;
	m = frexp(x, &e); /* x = m * 2^e, m in [0.5, 1), exact */
	if (m < SQRT1_2) {
		m *= 2;
		e--;
	}
	/* log m = 2 atanh s with s = (m-1)/(m+1), |s| <= 0.172. */
	s = (m - 1) / (m + 1);
	s2 = s * s;
	p = 1.0 / 23;
	for (int n = 21; n >= 1; n -= 2)
		p = p * s2 + 1.0 / n;
	return (e * LN2_HI + 2 * s * p) + e * LN2_LO;
}

void fmath_sincos(double x, double *s, double *c)
{
	double k, r, r2, ps, pc, fact;
	long q;

	if (!(fabs(x) <= 1e6)) {
		*s = *c = NAN;
		return;
	}
	k = round_near(x * TWOOPI);
	r = (x - k * PIO2_HI) - k * PIO2_LO; /* |r| <= pi/4 + tiny */
	r2 = r * r;
	/* Taylor series: sin to r^21, cos to r^22, Horner form from the top. */
	ps = 0;
	pc = 0;
	fact = 1;
	for (int n = 1; n <= 22; n++)
		fact *= n; /* 22! */
	for (int n = 22; n >= 2; n -= 2) {
		pc = (n / 2 % 2 ? -1.0 : 1.0) / fact + pc * r2;
		fact /= n;
		ps = ((n - 1) / 2 % 2 ? -1.0 : 1.0) / fact + ps * r2;
		fact /= n - 1;
	}
	pc = 1.0 + pc * r2;
	ps = r * ps;
	q = (long)k & 3; /* k mod 4, also for negative k */
	switch (q) {
	case 0:
		*s = ps;
		*c = pc;
		break;
	case 1:
		*s = pc;
		*c = -ps;
		break;
	case 2:
		*s = -ps;
		*c = -pc;
		break;
	default:
		*s = -pc;
		*c = ps;
		break;
	}
}
