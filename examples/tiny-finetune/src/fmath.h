/* exp, log, sin and cos computed with a fixed sequence of IEEE-754 double
 * operations (range reduction and a polynomial), so that training and data
 * generation give the same bits with any libm (glibc, musl) and on any
 * architecture, provided the compiler does not contract a*b+c into a fused
 * multiply-add (the build passes -ffp-contract=off). Accurate to a few ulp;
 * faithful, not correctly rounded: what matters here is that they are the
 * same everywhere. */
#ifndef TF_FMATH_H
#define TF_FMATH_H

/* e^x; +inf above 709.78, 0 below -745.2, NaN for NaN. */
double fmath_exp(double x);

/* Natural logarithm; -inf at 0, NaN below 0 or for NaN, +inf at +inf. */
double fmath_log(double x);

/* sin x and cos x for |x| <= 1e6 (the range reduction is exact enough only
 * there); NaN outside. */
void fmath_sincos(double x, double *s, double *c);

#endif
