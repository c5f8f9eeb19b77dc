// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma operation sequences in C, the generator: each operation drawn by a seeded
 * PRNG against the current layout, valid by construction, making the choices
 * pyvma/engine/generator.py's OpGenerator makes (the kinds the tree has, from the
 * sequence's cfg).  Uses entry_seq.c's world and layout reading; called by
 * entry_seq_run.c.
 */
#include "pyvma_internal.h"

/* ---- the generator (ops.OpGenerator's choices, its own PRNG) --------------- */

/* The first page of the first VMA starting at or above page @e (SEQ_GEN_PAGES if
 * none): how far a VMA ending at @e may grow. */
static long seq_next_start(const struct seq_world *w, long e)
{
	long nxt = SEQ_GEN_PAGES;
	int i;

	for (i = 0; i < w->n; i++)
		if ((long)(w->rows[i].start / SEQ_PAGE) >= e &&
		    (long)(w->rows[i].start / SEQ_PAGE) < nxt)
			nxt = w->rows[i].start / SEQ_PAGE;
	return nxt;
}

static unsigned long seq_next(struct seq_world *w)
{
	/* splitmix64 */
	unsigned long z = (w->rng += 0x9e3779b97f4a7c15UL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
	return z ^ (z >> 31);
}

static double seq_rnd(struct seq_world *w)
{
	return (seq_next(w) >> 11) * (1.0 / 9007199254740992.0);
}

/* an int in [a, b] */
static long seq_int(struct seq_world *w, long a, long b)
{
	return a + (long)(seq_next(w) % (unsigned long)(b - a + 1));
}

static unsigned long seq_gen_flags(struct seq_world *w)
{
	unsigned long f = SEQ_BASE;
	int i;

	for (i = 4; i <= SEQ_F_EXEC; i++)	/* ops.GEN_FLAGS */
		if (seq_rnd(w) < 0.2)
			f |= 1UL << i;
	return f;
}

/* the page map of the last walk: used[p] for p < SEQ_GEN_PAGES */
static void seq_used(struct seq_world *w, char *used)
{
	int i;
	long p;

	memset(used, 0, SEQ_GEN_PAGES);
	for (i = 0; i < w->n; i++)
		for (p = w->rows[i].start / SEQ_PAGE; p < (long)(w->rows[i].end / SEQ_PAGE); p++)
			if (p < SEQ_GEN_PAGES)
				used[p] = 1;
}

static int seq_gap(struct seq_world *w, long *s, long *e)
{
	char used[SEQ_GEN_PAGES];
	long free[SEQ_GEN_PAGES], p;
	int nfree = 0;

	seq_used(w, used);
	for (p = 0; p < SEQ_GEN_PAGES; p++)
		if (!used[p])
			free[nfree++] = p;
	if (!nfree)
		return 0;
	p = free[seq_int(w, 0, nfree - 1)];
	*s = p;
	while (*s - 1 >= 0 && !used[*s - 1] && seq_rnd(w) < 0.5)
		(*s)--;
	*e = p + 1;
	while (*e < SEQ_GEN_PAGES && !used[*e] && seq_rnd(w) < 0.5)
		(*e)++;
	return 1;
}

static long seq_pgoff(struct seq_world *w, long s)
{
	int i;

	for (i = 0; i < w->n; i++)
		if ((long)(w->rows[i].end / SEQ_PAGE) == s) {
			if (seq_rnd(w) < 0.8)
				return w->rows[i].pgoff + (s - (long)(w->rows[i].start / SEQ_PAGE));
			break;
		}
	return seq_rnd(w) < 0.8 ? s : s + seq_int(w, 1, 5);
}

static void seq_row_pages(struct seq_world *w, int i, long *s, long *e)
{
	*s = w->rows[i].start / SEQ_PAGE;
	*e = w->rows[i].end / SEQ_PAGE;
}

/* a stack grown down into the free pages below it, or (none) one mapped */
static int seq_gen_stack(struct seq_world *w, struct pyvma_seq_op *op)
{
	char used[SEQ_GEN_PAGES];
	int stacks[SEQ_ROWS], n = 0, i;
	long low;

	seq_used(w, used);
	for (i = 0; i < w->n && i < SEQ_ROWS; i++) {
		long s = w->rows[i].start / SEQ_PAGE;

		if ((w->rows[i].flags & w->cfg->flag_values[SEQ_F_GROWSDOWN]) &&
		    w->cfg->flag_values[SEQ_F_GROWSDOWN] && s > 0 && s <= SEQ_GEN_PAGES &&
		    !used[s - 1])
			stacks[n++] = i;
	}
	if (n && seq_rnd(w) < 0.8) {
		i = stacks[seq_int(w, 0, n - 1)];
		op->a = w->rows[i].start / SEQ_PAGE;
		low = op->a - 1;
		while (low > 0 && !used[low - 1] && seq_rnd(w) < 0.6)
			low--;
		op->b = low;
		return 1;
	}
	if (!(w->cfg->gen_kinds & 1U << PYVMA_SEQ_MMAP))
		return 0;
	op->kind = PYVMA_SEQ_MMAP;
	op->a = seq_int(w, 2, SEQ_GEN_PAGES - 2);
	op->b = op->a + seq_int(w, 1, 3);
	if (op->b > SEQ_GEN_PAGES)
		op->b = SEQ_GEN_PAGES;
	op->c = op->a;
	op->flags = SEQ_BASE | 1UL << SEQ_F_GROWSDOWN;
	if (seq_rnd(w) < 0.3)
		op->flags |= 1UL << SEQ_F_LOCKED;
	return 1;
}

/* ops_query.gen_query(): one of the query operations (or, now and then, the
 * operation that makes what it asks about); 0: none fits */
static int seq_gen_query(struct seq_world *w, int kind, struct pyvma_seq_op *op)
{
	/* ops_query.PROTS and WN_OPS (extra: 0 its own, else 1 + PYVMA_OPS_*) */
	static const long prots[] = { 0, 0x25 };
	static const int wn_ops[] = { 0, 1, 1 + PYVMA_OPS_PAGE_MKWRITE, 1 + PYVMA_OPS_PFN_MKWRITE,
				      1 + (PYVMA_OPS_OPEN | PYVMA_OPS_CLOSE) };
	static const int aligns[] = { 1, 1, 2, 4 };
	long s, e, p, top = 1, below = 0;
	int i, j, ngaps = 0;
	long gaps[SEQ_GEN_PAGES];
	double r;

	if (kind == PYVMA_SEQ_UNMAPPED_AREA) {
		if (seq_rnd(w) < 0.15) {
			for (p = 2; p < SEQ_GEN_PAGES - 1; p++)
				if (seq_free(w, p, p + 2))
					gaps[ngaps++] = p;
			if (ngaps) {
				/* a stack with its guard gap */
				op->kind = PYVMA_SEQ_MAP;
				op->a = op->c = gaps[seq_int(w, 0, ngaps - 1)];
				op->b = op->a + 2;
				op->flags = SEQ_BASE | 1UL << SEQ_F_GROWSDOWN;
				return 1;
			}
		}
		op->a = seq_int(w, 1, 4);
		op->b = seq_int(w, 0, SEQ_GEN_PAGES / 2 - 1);
		op->c = seq_int(w, op->b + 1, SEQ_GEN_PAGES + 8);
		op->extra = aligns[seq_int(w, 0, 3)] << 1 | (seq_rnd(w) < 0.5);
		return 1;
	}
	if (kind == PYVMA_SEQ_INIT_STACK) {
		for (i = 0; i < w->n; i++)
			if ((long)(w->rows[i].end / SEQ_PAGE) > top)
				top = w->rows[i].end / SEQ_PAGE;
		op->a = top < SEQ_GEN_PAGES && seq_rnd(w) < 0.8 ? seq_int(w, top, SEQ_GEN_PAGES)
			: seq_int(w, 1, SEQ_GEN_PAGES);
		return 1;
	}
	if (!w->n)
		return 0;
	i = seq_int(w, 0, w->n - 1);
	seq_row_pages(w, i, &s, &e);
	switch (kind) {
	case PYVMA_SEQ_PAGESIZE:
		op->a = seq_int(w, s, e - 1);
		return 1;
	case PYVMA_SEQ_RELOCATE:
		if (s == 0)
			return 0;
		for (j = 0; j < w->n; j++)
			if ((long)(w->rows[j].end / SEQ_PAGE) <= s &&
			    (long)(w->rows[j].end / SEQ_PAGE) > below)
				below = w->rows[j].end / SEQ_PAGE;
		op->a = s;
		op->b = below < s && seq_rnd(w) < 0.8 ? seq_int(w, 1, s - below) : seq_int(w, 1, s);
		return 1;
	}
	/* writenotify: a shared file mapping, VM_PFNMAP now and then */
	r = seq_rnd(w);
	if (r < 0.2 && w->rows[i].file &&
	    !(w->rows[i].flags & w->cfg->flag_values[SEQ_F_SHARED])) {
		op->kind = PYVMA_SEQ_SET_FLAGS;
		op->a = s;
		op->flags = 1UL << SEQ_F_SHARED | 1UL << SEQ_F_MAYSHARE;
		return 1;
	}
	if (r < 0.25) {
		op->kind = PYVMA_SEQ_SET_FLAGS;
		op->a = s;
		op->flags = 1UL << SEQ_F_PFNMAP;
		return 1;
	}
	op->a = seq_int(w, s, e - 1);
	op->b = prots[seq_int(w, 0, 1)];
	op->extra = wn_ops[seq_int(w, 0, 4)];
	op->c = seq_rnd(w) < 0.5;
	return 1;
}

/* one of the entry-point operations; 0: none fits the layout */
/* callers_spec.gen_caller()'s choices: a range mostly within or across a mapped
 * VMA, a move's target often next to its source; 0: none fits */
static int seq_gen_caller(struct seq_world *w, int kind, struct pyvma_seq_op *op)
{
	static const int resize[] = { -2, -1, 1, 1, 2, 3 };
	static const int prot[] = { 1, 3, 3, 0, 4 };	/* r rw rw none rx: PROT's indices */
	long vs, ve, s, e, n, dst, cand[2];
	int nc = 0;

	if (kind == PYVMA_SEQ_MLOCKALL) {
		op->extra = seq_int(w, 0, 2);
		return 1;
	}
	if (!w->n)
		return 0;
	seq_row_pages(w, seq_int(w, 0, w->n - 1), &vs, &ve);
	s = seq_rnd(w) < 0.4 ? seq_int(w, vs, ve - 1) : vs;
	e = seq_rnd(w) < 0.4 ? seq_int(w, s + 1, ve) : ve;
	if (seq_rnd(w) < 0.2) {
		e += seq_int(w, 1, 4);
		if (e > SEQ_GEN_PAGES)
			e = SEQ_GEN_PAGES;
	}
	op->a = s;
	op->b = e;
	switch (kind) {
	case PYVMA_SEQ_MREMAP:
		n = e - s;
		op->extra = seq_int(w, 0, 2);
		if (!op->extra) {
			op->c = n + resize[seq_int(w, 0, 5)];
			op->c = op->c < 1 ? 1 : op->c;
			return 1;
		}
		if (e + n <= SEQ_GEN_PAGES)
			cand[nc++] = e;
		if (s - n >= 0)
			cand[nc++] = s - n;
		dst = nc && seq_rnd(w) < 0.6 ? cand[seq_int(w, 0, nc - 1)] :
		      seq_int(w, 0, (SEQ_GEN_PAGES - n > 1 ? SEQ_GEN_PAGES - n : 1) - 1);
		if (dst < e && s < dst + n)
			return 0;
		op->c = n;
		op->extra |= (dst + 1) << 2;
		return 1;
	case PYVMA_SEQ_MPROTECT_PROT:
		op->extra = prot[seq_int(w, 0, 4)];
		return 1;
	case PYVMA_SEQ_MADVISE:
		op->extra = seq_int(w, 0, 7);
		return 1;
	case PYVMA_SEQ_MLOCK:
		op->extra = seq_int(w, 0, 2);
		return 1;
	case PYVMA_SEQ_MSEAL:
		return seq_rnd(w) < 0.3;	/* sealing sticks: rare */
	}
	return 0;
}

static int seq_gen_entry(struct seq_world *w, int kind, struct pyvma_seq_op *op)
{
	static const long limit_pages[] = { -1, 0, 2, 4, 8, 16 };
	long s, e;

	op->kind = kind;
	if (kind >= PYVMA_SEQ_MREMAP)
		return seq_gen_caller(w, kind, op);
	switch (kind) {
	case PYVMA_SEQ_FAIL:
		/* ops.FAIL_SITES (the first n_common_sites) more often than the others */
		op->a = seq_rnd(w) < 0.6 ? seq_int(w, 0, w->cfg->n_common_sites - 1) :
			seq_int(w, 0, w->cfg->n_fail_sites - 1);
		op->extra = seq_int(w, 0, 2) == 2;
		return 1;
	case PYVMA_SEQ_ALL_LOCKS:
		return 1;
	case PYVMA_SEQ_LIMIT:
		op->extra = seq_int(w, 0, 3);
		op->a = limit_pages[seq_int(w, 0, 5)];
		return 1;
	case PYVMA_SEQ_SPECIAL:
		op->a = seq_int(w, 0, SEQ_GEN_PAGES - 2);
		op->b = op->a + seq_int(w, 1, 4);
		if (op->b > SEQ_GEN_PAGES)
			op->b = SEQ_GEN_PAGES;
		op->flags = seq_rnd(w) < 0.5 ? 1UL << 0 | 1UL << 2 : SEQ_BASE;
		/* no vm_ops, none, ->close, ->open and ->close */
		e = seq_int(w, 0, 3);
		op->extra = e == 0 ? 0 : e == 1 ? 1 : e == 2 ? 1 + PYVMA_OPS_CLOSE :
			    1 + (PYVMA_OPS_OPEN | PYVMA_OPS_CLOSE);
		return 1;
	case PYVMA_SEQ_STACK:
		return seq_gen_stack(w, op);
	case PYVMA_SEQ_MMAP:
	case PYVMA_SEQ_VM_MUNMAP:
		op->a = seq_int(w, 0, SEQ_GEN_PAGES - 2);
		op->b = op->a + seq_int(w, 1, 5);
		if (op->b > SEQ_GEN_PAGES)
			op->b = SEQ_GEN_PAGES;
		if (kind == PYVMA_SEQ_VM_MUNMAP)
			return 1;
		e = seq_int(w, 0, 4);
		op->file = e == 3 ? PYVMA_SEQ_F0 : e == 4 ? PYVMA_SEQ_FC : 0;
		op->flags = seq_gen_flags(w);
		if (op->file && seq_rnd(w) < 0.3)
			op->flags |= 1UL << SEQ_F_SHARED | 1UL << SEQ_F_MAYSHARE;
		if (seq_rnd(w) < 0.25)
			op->flags |= 1UL << SEQ_F_EXEC;
		op->c = op->file ? seq_pgoff(w, op->a) : op->a;
		return 1;
	case PYVMA_SEQ_MMAP_FILE:
	case PYVMA_SEQ_MMAP_PREPARE:
		/* ops_paths.gen_path() */
		op->a = seq_int(w, 0, SEQ_GEN_PAGES - 2);
		op->b = op->a + seq_int(w, 1, 4);
		if (op->b > SEQ_GEN_PAGES)
			op->b = SEQ_GEN_PAGES;
		op->file = kind == PYVMA_SEQ_MMAP_FILE ? PYVMA_SEQ_FE + seq_int(w, 0, 1)
			   : PYVMA_SEQ_FP + seq_int(w, 0, PYVMA_SEQ_FPS - PYVMA_SEQ_FP);
		op->c = op->a + (seq_int(w, 0, 2) == 2 ? 3 : 0);
		op->flags = seq_gen_flags(w);
		if (seq_rnd(w) < 0.15)
			op->flags |= 1UL << SEQ_F_LOCKED;
		return 1;
	case PYVMA_SEQ_UNMAPPED_AREA:
	case PYVMA_SEQ_INIT_STACK:
		return seq_gen_query(w, kind, op);
	case PYVMA_SEQ_BRK:
	case PYVMA_SEQ_INSERT:
		if (!seq_gap(w, &s, &e))
			return 0;
		op->a = s;
		op->b = e;
		if (kind == PYVMA_SEQ_BRK)
			return 1;
		op->av = seq_rnd(w) < 0.03 ? PYVMA_SEQ_AV0 : 0;
		op->file = seq_rnd(w) < 0.7 ? 0 : PYVMA_SEQ_F0;
		op->c = seq_pgoff(w, s);
		op->flags = seq_gen_flags(w);
		return 1;
	}
	if (!w->n)
		return 0;
	seq_row_pages(w, seq_int(w, 0, w->n - 1), &s, &e);
	if (kind == PYVMA_SEQ_FAULT) {
		op->a = seq_int(w, s, e - 1);
		return 1;
	} else if (kind >= PYVMA_SEQ_WRITENOTIFY) {
		return seq_gen_query(w, kind, op);
	} else if (kind == PYVMA_SEQ_EXTEND) {
		long nxt = seq_next_start(w, e);
		if (nxt <= e)
			return 0;
		op->a = s;
		op->b = seq_int(w, 1, nxt - e);
		return 1;
	} else if (kind == PYVMA_SEQ_MPROTECT || kind == PYVMA_SEQ_NAME ||
		   kind == PYVMA_SEQ_POLICY || kind == PYVMA_SEQ_UFFD) {
		int whole = seq_rnd(w) < (kind == PYVMA_SEQ_MPROTECT ? 0.4 : 0.3);

		op->a = whole ? s : seq_int(w, s, e - 1);
		op->b = whole ? e : seq_int(w, op->a + 1, e);
		if (kind == PYVMA_SEQ_NAME)
			op->extra = seq_int(w, 0, 2);
		if (kind == PYVMA_SEQ_MPROTECT || kind == PYVMA_SEQ_UFFD)
			op->flags = seq_gen_flags(w);
		if (kind == PYVMA_SEQ_MPROTECT && seq_rnd(w) < 0.3)
			op->flags &= ~(1UL << 1);	/* read-only */
		if (kind == PYVMA_SEQ_UFFD)
			op->extra = op->a == s && op->b == e && seq_rnd(w) < 0.5;
		return 1;
	} else if (kind != PYVMA_SEQ_COPY_VMA) {
		return 0;
	} else {
		/* copy_vma: often right next to the source (mremap's self-merge case) */
		char used[SEQ_GEN_PAGES];
		long n = e - s, picks[SEQ_GEN_PAGES + 2], p, q;
		int npicks = 0, beside = seq_rnd(w) < 0.5;

		seq_used(w, used);
		for (p = 0; p + n <= SEQ_GEN_PAGES; p++) {
			int ok = 1;

			for (q = p; q < p + n; q++)
				ok &= !used[q];
			if (ok && (!beside || p == e || p == s - n))
				picks[npicks++] = p;
		}
		if (!npicks)
			return 0;
		op->a = s;
		op->b = picks[seq_int(w, 0, npicks - 1)];
		op->extra = seq_rnd(w) < 0.7;
		return 1;
	}
}

static void seq_gen_basic(struct seq_world *w, struct pyvma_seq_op *op)
{
	double r = seq_rnd(w);
	int av = seq_int(w, 0, 3);
	long s, e;

	op->av = av == 2 ? PYVMA_SEQ_AV0 : av == 3 ? PYVMA_SEQ_AV1 : 0;
	op->file = seq_rnd(w) < 0.85 ? 0 : PYVMA_SEQ_F0;
	if (!w->n || r < 0.35) {
		if (!seq_gap(w, &s, &e)) {
			op->kind = PYVMA_SEQ_MUNMAP;
			op->av = op->file = 0;
			op->a = seq_int(w, 0, SEQ_GEN_PAGES - 1);
			op->b = op->a + seq_int(w, 1, 4);
			if (op->b > SEQ_GEN_PAGES)
				op->b = SEQ_GEN_PAGES;
			return;
		}
		op->kind = !w->n || seq_rnd(w) < 0.3 ? PYVMA_SEQ_MAP : PYVMA_SEQ_MERGE_NEW;
		op->a = s;
		op->b = e;
		op->c = seq_pgoff(w, s);
		op->flags = seq_gen_flags(w);
		return;
	}
	op->av = op->file = 0;
	seq_row_pages(w, seq_int(w, 0, w->n - 1), &s, &e);
	if (r < 0.55) {
		op->kind = PYVMA_SEQ_MODIFY;
		op->a = seq_int(w, s, e - 1);
		op->b = seq_int(w, op->a + 1, e);
		op->flags = seq_gen_flags(w);
		return;
	}
	if (r < 0.62) {
		op->kind = PYVMA_SEQ_SET_FLAGS;
		op->a = s;
		op->flags = 1UL << seq_int(w, 4, SEQ_F_EXEC);
		return;
	}
	if (r < 0.72 && e - s > 1) {
		op->kind = PYVMA_SEQ_SPLIT;
		op->a = seq_int(w, s + 1, e - 1);
		op->extra = seq_rnd(w) < 0.5;
		return;
	}
	if (r < 0.80) {
		long nxt = seq_next_start(w, e);
		if (nxt > e) {
			op->kind = PYVMA_SEQ_EXPAND;
			op->a = s;
			op->b = seq_int(w, e + 1, nxt);
			return;
		}
	}
	if (r < 0.86 && e - s > 1) {
		op->kind = PYVMA_SEQ_SHRINK;
		op->a = s;
		op->b = seq_int(w, s + 1, e - 1);
		return;
	}
	op->kind = PYVMA_SEQ_MUNMAP;
	op->a = seq_int(w, 0, SEQ_GEN_PAGES - 1);
	op->b = op->a + seq_int(w, 1, 4);
	if (op->b > SEQ_GEN_PAGES)
		op->b = SEQ_GEN_PAGES;
}

static void seq_generate(struct seq_world *w, struct pyvma_seq_op *op)
{
	int kinds[PYVMA_SEQ_NKINDS], nk = 0, k;

	memset(op, 0, sizeof(*op));
	for (k = PYVMA_SEQ_MMAP; k < PYVMA_SEQ_NKINDS; k++)
		if (w->cfg->gen_kinds & (1UL << k))
			kinds[nk++] = k;
	if (nk && seq_rnd(w) < 0.35 && seq_gen_entry(w, kinds[seq_int(w, 0, nk - 1)], op))
		return;
	memset(op, 0, sizeof(*op));
	seq_gen_basic(w, op);
}
