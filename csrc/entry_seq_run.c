// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma operation sequences in C, the loop: pyvma_seq_run() makes the world (a new
 * mm, the named anon_vmas and files), runs or draws (entry_seq_gen.c) each
 * operation, applies it and writes its record (entry_seq.c), and frees what the
 * sequence made.
 */
#include "pyvma_internal.h"

/* ---- the sequence ------------------------------------------------------------ */

/* The files: f0, fc and ops_paths.FILE_KINDS' (as ops.World.file() makes them). */
static int seq_files(struct seq_world *w)
{
	const unsigned long *fv = w->cfg->flag_values;
	int k;

	for (k = PYVMA_SEQ_F0; k < PYVMA_SEQ_NOBJS; k++)
		if (!(w->file[k] = pyvma_file_new()))
			return -1;
	pyvma_file_set(w->file[PYVMA_SEQ_FC], PYVMA_FILE_MMAP, 1);
	pyvma_file_set(w->file[PYVMA_SEQ_FC], PYVMA_FILE_OPS, PYVMA_OPS_OPEN | PYVMA_OPS_CLOSE);
	pyvma_file_set(w->file[PYVMA_SEQ_FE], PYVMA_FILE_MMAP, 1);
	pyvma_file_set(w->file[PYVMA_SEQ_FE], PYVMA_FILE_ERR, -EINVAL);
	pyvma_file_set(w->file[PYVMA_SEQ_FM], PYVMA_FILE_MMAP, 1);
	pyvma_file_set(w->file[PYVMA_SEQ_FM], PYVMA_FILE_SET_FLAGS,
		       fv[SEQ_F_IO] | fv[SEQ_F_DONTEXPAND]);
	pyvma_file_set(w->file[PYVMA_SEQ_FM], PYVMA_FILE_OPS, PYVMA_OPS_CLOSE);
	for (k = PYVMA_SEQ_FP; k <= PYVMA_SEQ_FPS; k++)
		pyvma_file_set(w->file[k], PYVMA_FILE_MMAP_PREPARE, 1);
	pyvma_file_set(w->file[PYVMA_SEQ_FP], PYVMA_FILE_OPS, PYVMA_OPS_OPEN | PYVMA_OPS_CLOSE);
	pyvma_file_set(w->file[PYVMA_SEQ_FP], PYVMA_FILE_PGOFF_DELTA, 1);
	pyvma_file_set(w->file[PYVMA_SEQ_FPE], PYVMA_FILE_ERR, -EINVAL);
	pyvma_file_set(w->file[PYVMA_SEQ_FPA], PYVMA_FILE_OPS, -2);
	pyvma_file_set(w->file[PYVMA_SEQ_FPS], PYVMA_FILE_SWAP,
		       (long)(uintptr_t)w->file[PYVMA_SEQ_F0]);
	pyvma_file_set(w->file[PYVMA_SEQ_FPH], PYVMA_FILE_HIDE_RMAP, 1);
	return 0;
}

/* The mm destroyed; the named objects' pins dropped, then freed with every object
 * the sequence's kernel code made, by the one sweep (objects.c owns their
 * lifetimes); the world freed. */
static void seq_release(struct seq_world *w)
{
	int k;

	if (w->mm) {
		pyvma_mm_begin_op(w->mm);
		pyvma_mm_destroy(w->mm);
	}
	for (k = PYVMA_SEQ_AV0; k <= PYVMA_SEQ_AV1; k++)
		if (w->av[k])
			pyvma_obj_pin(w->av[k], -1);
	for (k = PYVMA_SEQ_F0; k < PYVMA_SEQ_NOBJS; k++)
		if (w->file[k])
			pyvma_obj_pin(w->file[k], -1);
	pyvma_objects_sweep();
	free(w);
}

/*
 * Run @n operations on a new mm (after the per-sequence resets Differ.lockstep
 * makes): @ops as given, or with @generate drawn from @seed and written there.
 * One record per operation into @out; @counts (may be NULL) counts outcomes per
 * kind.  Returns the operations run (fewer than @n after a BUG, whose site stays
 * for pyvma_bug_get()), or -1 when a layout has more VMAs than a record holds.
 */
long pyvma_seq_run(const struct pyvma_seq_cfg *cfg, struct pyvma_seq_op *ops, long n,
		   int generate, unsigned long seed, struct pyvma_seq_rec *out, long *counts)
{
	struct seq_world *w = calloc(1, sizeof(*w));
	long i, ran = 0;
	int k;

	if (!w)
		return -1;
	pyvma_warn_clear();
	pyvma_bug_clear();
	pyvma_fault_reset();
	/* the overcommit charge starts at 0 and only this sequence moves it (each
	 * tree runs a whole sequence alone): it is this world's, as ops.World keeps */
	pyvma_limits_reset();
	pyvma_locks_reset();
	pyvma_ops_reset();
	w->cfg = cfg;
	w->rng = seed;
	w->mm = pyvma_mm_new();
	for (k = PYVMA_SEQ_AV0; k <= PYVMA_SEQ_AV1; k++)
		w->av[k] = pyvma_anon_vma_new();
	if (!w->mm || !w->av[PYVMA_SEQ_AV0] || !w->av[PYVMA_SEQ_AV1] || seq_files(w)) {
		seq_release(w);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct pyvma_seq_op *op = &ops[i];
		struct pyvma_seq_rec *rec = &out[i];
		struct seq_ret r = { PYVMA_SEQ_RET_INT, 0 };
		long close0 = pyvma_ops_stat(PYVMA_OPS_STAT_CLOSE);
		long committed0 = pyvma_committed();
		int armed, warns0;

		memset(rec, 0, sizeof(*rec));
		w->peak_locks = 0;	/* every operation's own (ops.apply()) */
		/* the rows are the last record's (or the empty mm's) */
		if (i == 0)
			seq_walk(w);
		if (generate)
			seq_generate(w, op);
		if (!seq_valid(w, op)) {
			w->pending = 0;
			r.kind = PYVMA_SEQ_RET_INVALID;
		} else if (op->kind == PYVMA_SEQ_FAIL) {
			w->pending = w->cfg->fail_sites[op->a] + 1;
			w->pending_after = op->extra;
		} else {
			armed = w->pending;
			w->pending = 0;
			if (armed)
				pyvma_fault_set(armed - 1, 1, w->pending_after,
						armed - 1 == PYVMA_FAULT_FATAL_SIGNAL ? 0 : 1);
			warns0 = pyvma_warn_count();
			warns0 = warns0 < SEQ_WARN_MAX ? warns0 : SEQ_WARN_MAX;
			if (op->kind >= PYVMA_SEQ_MREMAP)
				seq_apply_caller(w, op, &r);
			else
				seq_apply(w, op, &r);
			if (w->bugged)
				r.kind = PYVMA_SEQ_RET_BUG;
			if (armed)
				pyvma_fault_set(armed - 1, 0, 0, 0);
			rec->warn_first = warns0;
			rec->warns = (pyvma_warn_count() < SEQ_WARN_MAX ? pyvma_warn_count()
				      : SEQ_WARN_MAX) - warns0;
			rec->bug = w->bugged;
		}
		rec->ret_kind = r.kind;
		rec->ret = r.kind == PYVMA_SEQ_RET_INT || r.kind == PYVMA_SEQ_RET_STATE ||
			   r.kind == PYVMA_SEQ_RET_RETURNED || r.kind == PYVMA_SEQ_RET_WRITENOTIFY ||
			   r.kind == PYVMA_SEQ_RET_ADDRESS ? r.ret : 0;
		if (seq_record(w, rec)) {
			ran = -1;
			break;
		}
		rec->close_calls = pyvma_ops_stat(PYVMA_OPS_STAT_CLOSE) - close0;
		rec->committed = pyvma_committed() - committed0;
		if (counts)
			counts[op->kind * PYVMA_SEQ_NCLASSES + seq_class(rec)]++;
		ran = i + 1;
		if (w->bugged)
			break;
	}
	seq_release(w);
	return ran;
}
