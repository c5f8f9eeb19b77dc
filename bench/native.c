// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma benchmark loop: the same operation sequence the Python benchmark drives,
 * run natively, as the physical limit of the Python-driven rate.  No part of the
 * library (nor of its build key): bench/native.py builds it, when the benchmark
 * asks, into a small library of its own that calls the loaded kernel library's
 * API (csrc/pyvma_api.h).
 *
 *   0123            0123            0123
 *   A C   merge ->  AAA   munmap -> A C      (2 operations per round)
 */
#include "pyvma_api.h"

long pyvma_bench_native(struct mm_struct *mm, long rounds, unsigned long flags);

long pyvma_bench_native(struct mm_struct *mm, long rounds, unsigned long flags)
{
	long i, ops = 0;
	int state;

	for (i = 0; i < rounds; i++) {
		if (!pyvma_merge_new(mm, 0x1000, 0x2000, 1, flags, 0, 0, &state))
			return -1;
		if (pyvma_munmap(mm, 0x1000, 0x1000))
			return -1;
		ops += 2;
	}
	return ops;
}
