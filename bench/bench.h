/* SPDX-License-Identifier: MIT */
#pragma once

/* Timing helpers shared by the in-process benchmarks. */

#include <stdlib.h>
#include <time.h>

static inline double bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of n samples; sorts them in place. */
static inline double bench_median(double *t, size_t n)
{
	qsort(t, n, sizeof(*t), bench_cmp_double);
	return t[n / 2];
}
