// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma operation sequences in C: pyvma diff's fast path (pyvma/engine/fast.py).
 * pyvma_seq_run() applies each operation of pyvma/engine/ops.py (one struct
 * pyvma_seq_op each) through the same entry points, in the same order and with
 * the same mmap-lock sessions as ops.apply() does through the Python API, and
 * after each writes the state diff compares as one fixed-size record: return
 * value, layout (flags as canonical name bits, anon_vma and file identity as
 * ids: named objects fixed, the kernel's numbered in layout order), map_count,
 * per VMA its anon_vma_chain length, vm_ops kind and anonymous page offset,
 * ->close calls, the mm counters, committed pages, the rmap locks held, per
 * file an operation named its references, rmap VMAs and writable maps, WARN
 * count, BUG.
 * This file: the world a sequence runs in, reading the mm, applying one
 * operation, writing its record.  The generator is entry_seq_gen.c, the
 * sequence loop (pyvma_seq_run()) entry_seq_run.c: the top of the layers
 * (pyvma_internal.h), they call entry points of every other glue file and none
 * calls them.
 */
#include "pyvma_internal.h"

#define SEQ_PAGE 0x1000UL		/* ops.py's PAGE_SIZE */
#define SEQ_ROWS 24			/* struct pyvma_seq_rec's rows */
#define SEQ_GEN_PAGES 24		/* ops.GEN_PAGES */
#define SEQ_WARN_MAX 256		/* WARNs Kernel.warnings() reads */
#define SEQ_BASE 0xfUL			/* VM_READ|VM_WRITE|VM_MAYREAD|VM_MAYWRITE */
#define SEQ_F_EXEC 7
#define SEQ_F_SHARED 8
#define SEQ_F_MAYSHARE 9
#define SEQ_F_GROWSDOWN 10
#define SEQ_F_LOCKED 11
#define SEQ_F_IO 12
#define SEQ_F_DONTEXPAND 13
#define SEQ_F_PFNMAP 14

struct seq_world {
	const struct pyvma_seq_cfg *cfg;
	struct mm_struct *mm;
	struct anon_vma *av[3];		/* [PYVMA_SEQ_AV0], [PYVMA_SEQ_AV1] */
	struct file *file[PYVMA_SEQ_NOBJS];	/* [PYVMA_SEQ_F0] ... [PYVMA_SEQ_FPS] */
	unsigned int named;		/* the files an operation named (ops.World.files) */
	int peak_locks;			/* ops.World.peak_locks */
	struct pyvma_vma_info rows[SEQ_ROWS];
	int n;				/* VMAs of the last walk (rows: the first SEQ_ROWS) */
	int stale;			/* kernel code ran since the last walk */
	int pending;			/* a fail operation's site + 1 (0: none) */
	long pending_after;
	int bugged;
	unsigned long rng;
};

/* ---- reading the mm ------------------------------------------------------ */

static int seq_walk(struct seq_world *w)
{
	w->stale = 0;
	w->n = pyvma_mm_walk(w->mm, w->rows, SEQ_ROWS);
	return w->n <= SEQ_ROWS;
}

/* The row of the VMA holding @page (walked again if kernel code ran); -1: none. */
static int seq_at(struct seq_world *w, long page)
{
	unsigned long addr = (unsigned long)page * SEQ_PAGE;
	int i, n;

	if (w->stale)
		seq_walk(w);
	n = w->n < SEQ_ROWS ? w->n : SEQ_ROWS;
	for (i = 0; i < n; i++)
		if (page >= 0 && w->rows[i].start <= addr && addr < w->rows[i].end)
			return i;
	return -1;
}

static unsigned long seq_flags(struct seq_world *w, unsigned long names)
{
	unsigned long v = 0;
	int i;

	for (i = 0; i < PYVMA_SEQ_NFLAGS; i++)
		if (names & (1UL << i))
			v |= w->cfg->flag_values[i];
	return v;
}

/* ops.valid() against the last walk's rows (in pages) */
static int seq_free(struct seq_world *w, long s, long e)
{
	int i;

	if (!(0 <= s && s < e))
		return 0;
	for (i = 0; i < w->n; i++)
		if ((long)(w->rows[i].start / SEQ_PAGE) < e && s < (long)(w->rows[i].end / SEQ_PAGE))
			return 0;
	return 1;
}

static int seq_within(struct seq_world *w, long p, long *vs, long *ve)
{
	int i;

	for (i = 0; i < w->n; i++) {
		long s = w->rows[i].start / SEQ_PAGE, e = w->rows[i].end / SEQ_PAGE;

		if (s <= p && p < e) {
			*vs = s;
			*ve = e;
			return 1;
		}
	}
	return 0;
}

static int seq_valid(struct seq_world *w, const struct pyvma_seq_op *op)
{
	long vs, ve;
	int in = seq_within(w, op->a, &vs, &ve);

	switch (op->kind) {
	case PYVMA_SEQ_MAP: case PYVMA_SEQ_MERGE_NEW: case PYVMA_SEQ_BRK: case PYVMA_SEQ_INSERT:
		return seq_free(w, op->a, op->b);
	case PYVMA_SEQ_MODIFY:
		return in && op->a < op->b && op->b <= ve;
	case PYVMA_SEQ_SPLIT:
		return in && vs < op->a && op->a < ve;
	case PYVMA_SEQ_EXPAND:
		return in && op->b > ve && seq_free(w, ve, op->b);
	case PYVMA_SEQ_SHRINK:
		return in && vs < op->b && op->b < ve;
	case PYVMA_SEQ_MUNMAP: case PYVMA_SEQ_VM_MUNMAP: case PYVMA_SEQ_MMAP:
		return 0 <= op->a && op->a < op->b;
	case PYVMA_SEQ_MMAP_FILE:	/* ops_paths.valid_path(): a file of its kinds */
		return 0 <= op->a && op->a < op->b &&
		       (op->file == PYVMA_SEQ_FE || op->file == PYVMA_SEQ_FM);
	case PYVMA_SEQ_MMAP_PREPARE:
		return 0 <= op->a && op->a < op->b &&
		       PYVMA_SEQ_FP <= op->file && op->file <= PYVMA_SEQ_FPS;
	case PYVMA_SEQ_FAULT:
		return in;
	case PYVMA_SEQ_COPY_VMA:
		return in && seq_free(w, op->b, op->b + ve - vs);
	case PYVMA_SEQ_FAIL:	/* an index of cfg->fail_sites (ops.ALL_FAIL_SITES) */
		return 0 <= op->a && op->a < w->cfg->n_fail_sites;
	case PYVMA_SEQ_SET_FLAGS:
	case PYVMA_SEQ_ALL_LOCKS:
	case PYVMA_SEQ_LIMIT:		/* (the encoder refuses what ops.valid() would) */
		return 1;
	/* ops.valid() and ops_paths.valid_path() */
	case PYVMA_SEQ_MPROTECT: case PYVMA_SEQ_NAME: case PYVMA_SEQ_POLICY:
		return in && op->a < op->b && op->b <= ve;
	case PYVMA_SEQ_UFFD:
		/* give_up_on_oom is only asked for whole VMAs */
		return in && op->a < op->b && op->b <= ve &&
		       !(op->extra && (op->a != vs || op->b != ve));
	case PYVMA_SEQ_EXTEND:
		return in && op->b > 0 && seq_free(w, ve, ve + op->b);
	case PYVMA_SEQ_STACK:
		return in && 0 <= op->b && op->b < vs && seq_free(w, op->b, vs);
	case PYVMA_SEQ_SPECIAL:
		return 0 <= op->a && op->a < op->b;
	/* ops_query.valid_query() (the encoder refuses vm_ops it cannot name) */
	case PYVMA_SEQ_WRITENOTIFY: case PYVMA_SEQ_PAGESIZE:
		return in;
	case PYVMA_SEQ_UNMAPPED_AREA:
		return op->a > 0 && op->b < op->c && (op->extra >> 1) > 0 &&
		       !((op->extra >> 1) & ((op->extra >> 1) - 1));
	case PYVMA_SEQ_INIT_STACK:
		return 0 < op->a;
	case PYVMA_SEQ_RELOCATE:
		return in && 0 < op->b && op->b <= vs;
	/* callers_spec.valid_caller(): the domain; the system call refuses the rest */
	case PYVMA_SEQ_MREMAP:
		return 0 <= op->a && op->a < op->b && op->c > 0 && (op->extra & 3) <= 2 &&
		       ((op->extra >> 2) == 0) == ((op->extra & 3) == 0);
	case PYVMA_SEQ_MPROTECT_PROT: case PYVMA_SEQ_MADVISE: case PYVMA_SEQ_MLOCK:
	case PYVMA_SEQ_MSEAL:
		return 0 <= op->a && op->a < op->b;
	case PYVMA_SEQ_MLOCKALL:
		return 1;
	}
	return 0;
}

/* ---- applying one operation ------------------------------------------------ */

/* Each call Python makes through MM._call: a new mmap-lock session first, a BUG
 * looked at after (it ends the operation, as KernelBug does). */
#define SEQ_CALL(w, expr) ((w)->stale = 1, pyvma_mm_begin_op((w)->mm), (expr))
#define SEQ_BUGGED(w) ((w)->bugged = pyvma_bug_get(&site) != 0)

struct seq_ret {
	int kind;
	long ret;
};

/* ops.World.file(): the file @id named from here on (fps names f0, its swap) */
static void seq_name_file(struct seq_world *w, int id)
{
	if (!id)
		return;
	w->named |= 1U << id;
	if (id == PYVMA_SEQ_FPS)
		w->named |= 1U << PYVMA_SEQ_F0;
}

/* MM.map(): alloc, anon_vma/file set, vma_link (its error, the VMA freed); 0 and
 * *vmap, or 1 with *r set */
static int seq_map(struct seq_world *w, const struct pyvma_seq_op *op, unsigned long flags,
		   struct vm_area_struct **vmap, struct seq_ret *r)
{
	struct pyvma_site site;
	struct vm_area_struct *vma;
	int err;

	vma = SEQ_CALL(w, pyvma_vma_alloc(w->mm, op->a * SEQ_PAGE, op->b * SEQ_PAGE, op->c, flags));
	if (SEQ_BUGGED(w))
		return 1;
	if (!vma) {
		r->kind = PYVMA_SEQ_RET_CALLER_NOMEM;
		return 1;
	}
	if (op->av)
		pyvma_vma_set_anon_vma(vma, w->av[op->av]);
	if (op->file)
		pyvma_vma_set_file(vma, w->file[op->file]);
	err = SEQ_CALL(w, pyvma_vma_link(w->mm, vma));
	if (SEQ_BUGGED(w))
		return 1;
	if (err) {
		pyvma_vma_free(vma);
		r->ret = err;
		return 1;
	}
	*vmap = vma;
	return 0;
}

/* The row of the VMA at @page for an operation on it; -1 with the outcome "novma"
 * in @r when there is none (ops.apply()'s "novma"). */
static int seq_target(struct seq_world *w, long page, struct seq_ret *r)
{
	int i = seq_at(w, page);

	if (i < 0)
		r->kind = PYVMA_SEQ_RET_NOVMA;
	return i;
}

/* ops.modify_flags(): the existing-range merge, else split and set */
static void seq_modify(struct seq_world *w, const struct pyvma_seq_op *op, unsigned long flags,
		       struct seq_ret *r)
{
	struct pyvma_site site;
	struct vm_area_struct *vma, *prev, *merged;
	unsigned long s = op->a * SEQ_PAGE, e, start;
	int i = seq_target(w, op->a, r), state;

	if (i < 0)
		return;
	vma = w->rows[i].vma;
	start = w->rows[i].start;
	e = op->b * SEQ_PAGE < w->rows[i].end ? op->b * SEQ_PAGE : w->rows[i].end;
	if (s > start)
		prev = vma;
	else
		prev = i > 0 && w->rows[i - 1].end == start ? w->rows[i - 1].vma : NULL;
	merged = SEQ_CALL(w, pyvma_merge_existing(w->mm, prev, vma, s, e,
						  w->rows[i].pgoff + (s - start) / SEQ_PAGE, flags,
						  w->rows[i].anon_vma, &state));
	if (SEQ_BUGGED(w))
		return;
	r->kind = PYVMA_SEQ_RET_STATE;
	r->ret = state;
	if (merged || state == PYVMA_MERGE_ERROR_NOMEM)
		return;
	if (s > start) {
		int err = SEQ_CALL(w, pyvma_split(w->mm, vma, s, 0));

		if (SEQ_BUGGED(w))
			return;
		if (err) {
			r->ret = PYVMA_MERGE_ERROR_NOMEM;
			return;
		}
		i = seq_at(w, op->a);
	}
	if (e < w->rows[i].end) {
		int err = SEQ_CALL(w, pyvma_split(w->mm, w->rows[i].vma, e, 1));

		if (SEQ_BUGGED(w))
			return;
		if (err) {
			r->ret = PYVMA_MERGE_ERROR_NOMEM;
			return;
		}
		i = seq_at(w, op->a);
	}
	pyvma_vma_set_flags(w->rows[i].vma, flags);
}

/* a vma_modify_*() front end's VMA (ops_paths._returned): 0 when it covers [s, e) */
static void seq_returned(struct vm_area_struct *got, unsigned long s, unsigned long e,
			 struct seq_ret *r)
{
	struct pyvma_vma_info v;

	pyvma_vma_info(got, &v);
	if (v.start <= s && e <= v.end)
		return;
	r->kind = PYVMA_SEQ_RET_RETURNED;
	r->ret = (long)(v.start / SEQ_PAGE) << 20 | (long)(v.end / SEQ_PAGE);
}

/* ops.apply_mprotect() and ops_paths.apply_path()'s operations */
static void seq_apply_path(struct seq_world *w, const struct pyvma_seq_op *op,
			   unsigned long flags, struct seq_ret *r)
{
	static const char *const names[] = { NULL, "heap", "buf" };
	struct pyvma_site site;
	struct vm_area_struct *vma, *prev, *got = NULL;
	struct vma_iterator *vmi;
	struct pyvma_vma_info v;
	unsigned long s = op->a * SEQ_PAGE, e, start, word = flags;
	long err = 0;
	int i;

	switch (op->kind) {
	case PYVMA_SEQ_SPECIAL:
		got = SEQ_CALL(w, pyvma_install_special_mapping(w->mm, s, (op->b - op->a) * SEQ_PAGE,
								flags, op->extra ? op->extra - 1 : -1,
								&err));
		if (!SEQ_BUGGED(w))
			r->ret = err;
		return;
	case PYVMA_SEQ_ALL_LOCKS:
		r->ret = SEQ_CALL(w, pyvma_mm_take_all_locks(w->mm));
		if (SEQ_BUGGED(w) || r->ret < 0)
			return;
		w->peak_locks = pyvma_locks_held();
		SEQ_CALL(w, pyvma_mm_drop_all_locks(w->mm));
		SEQ_BUGGED(w);
		r->ret = 0;
		return;
	case PYVMA_SEQ_LIMIT:
		pyvma_set_limit(op->extra, op->a < 0 ? ~0UL : op->extra == PYVMA_LIMIT_COMMIT ?
				(unsigned long)op->a : op->a * SEQ_PAGE);
		return;
	}
	i = seq_target(w, op->a, r);
	if (i < 0)
		return;
	vma = w->rows[i].vma;
	start = w->rows[i].start;
	e = op->b * SEQ_PAGE < w->rows[i].end ? op->b * SEQ_PAGE : w->rows[i].end;
	switch (op->kind) {
	case PYVMA_SEQ_EXTEND:
		vmi = pyvma_vmi_new(w->mm, w->rows[i].end);
		got = SEQ_CALL(w, pyvma_merge_extend(vmi, vma, op->b * SEQ_PAGE));
		pyvma_vmi_free(vmi);
		if (SEQ_BUGGED(w))
			return;
		if (!got) {
			r->kind = PYVMA_SEQ_RET_STATE;
			r->ret = PYVMA_MERGE_NOMERGE;
			return;
		}
		/* mremap accounts the pages it grew by (vm_stat_account()) */
		pyvma_vma_info(got, &v);
		pyvma_account_range(w->mm, v.flags, op->b);
		return;
	case PYVMA_SEQ_STACK:
		r->ret = SEQ_CALL(w, pyvma_expand_downwards(vma, op->b * SEQ_PAGE));
		if (!SEQ_BUGGED(w) && r->ret > 0)
			r->ret = 0;
		return;
	case PYVMA_SEQ_MPROTECT:
		/* mprotect_fixup(): nothing to do; prev: vma_prev()'s, adjacent or not */
		if (flags == w->rows[i].flags)
			return;
		prev = s > start ? vma : i > 0 ? w->rows[i - 1].vma : NULL;
		break;
	default:
		/* ops_paths._prev_for() */
		prev = s > start ? vma : i > 0 && w->rows[i - 1].end == start ?
		       w->rows[i - 1].vma : NULL;
	}
	vmi = pyvma_vmi_new(w->mm, s);
	switch (op->kind) {
	case PYVMA_SEQ_MPROTECT:
		got = SEQ_CALL(w, pyvma_modify_flags(vmi, prev, vma, s, e, &word, &err));
		break;
	case PYVMA_SEQ_NAME:
		got = SEQ_CALL(w, pyvma_modify_name(vmi, prev, vma, s, e, w->rows[i].flags,
						    names[op->extra], &err));
		break;
	case PYVMA_SEQ_POLICY:
		got = SEQ_CALL(w, pyvma_modify_policy(vmi, prev, vma, s, e, &err));
		break;
	case PYVMA_SEQ_UFFD:
		got = SEQ_CALL(w, pyvma_modify_flags_uffd(vmi, prev, vma, s, e, &word, op->extra,
							  &err));
		break;
	}
	pyvma_vmi_free(vmi);
	if (SEQ_BUGGED(w))
		return;
	if (err || !got) {
		r->ret = err;
		return;
	}
	if (op->kind == PYVMA_SEQ_MPROTECT) {
		/* mprotect_fixup() sets the flags vma_modify_flags() left */
		pyvma_vma_set_flags(got, word);
	} else if (op->kind == PYVMA_SEQ_UFFD) {
		/* userfaultfd_register_range() sets the flags on the VMA that came back
		 * unmerged */
		pyvma_vma_info(got, &v);
		if (v.start == s && v.end == e)
			pyvma_vma_set_flags(got, flags);
	}
	seq_returned(got, s, e, r);
}

#define SEQ_STACK_TOP_MAX ((1UL << 47) - SEQ_PAGE)	/* ops_query.STACK_TOP_MAX */

/* ops_query._written(): an anonymous VMA exec moves faulted first; 1 when that
 * failed or BUGged (*r set) */
static int seq_written(struct seq_world *w, struct vm_area_struct *vma, struct seq_ret *r)
{
	struct pyvma_site site;
	struct pyvma_vma_info v;
	long err;

	pyvma_vma_info(vma, &v);
	if (!pyvma_vma_is_anonymous(vma) || v.anon_vma)
		return 0;
	err = SEQ_CALL(w, pyvma_anon_vma_prepare(vma));
	if (SEQ_BUGGED(w))
		return 1;
	if (err < 0) {
		r->ret = err;
		return 1;
	}
	return 0;
}

/* ops_query.apply_query()'s operations */
static void seq_apply_query(struct seq_world *w, const struct pyvma_seq_op *op,
			    struct seq_ret *r)
{
	struct pyvma_site site;
	struct vm_area_struct *vma;
	struct pyvma_vma_info v;
	long ret, err = 0;
	int i, k;

	if (op->kind == PYVMA_SEQ_UNMAPPED_AREA) {
		long align = op->extra >> 1;

		ret = SEQ_CALL(w, pyvma_unmapped_area(op->a * SEQ_PAGE, op->b * SEQ_PAGE,
						      op->c * SEQ_PAGE, (align - 1) * SEQ_PAGE,
						      0, 0, op->extra & 1));
		if (SEQ_BUGGED(w))
			return;
		if (ret >= 0 && ret % (long)SEQ_PAGE == 0) {
			r->ret = ret / (long)SEQ_PAGE;
		} else if (ret < 0 && ret >= -4095) {
			r->ret = ret;
		} else {	/* unaligned, or "below 0": the search wrapped */
			r->kind = PYVMA_SEQ_RET_ADDRESS;
			r->ret = ret;
		}
		return;
	}
	if (op->kind == PYVMA_SEQ_INIT_STACK) {
		/* exec: the stack at STACK_TOP_MAX, faulted, moved down to page a; what
		 * is left of it at the top unmapped (the return value kept) */
		vma = SEQ_CALL(w, pyvma_create_init_stack_vma(w->mm, &err));
		if (SEQ_BUGGED(w))
			return;
		if (err || !vma) {
			r->ret = err;
			if (!err)
				r->kind = PYVMA_SEQ_RET_CALLER_NOMEM;
			return;
		}
		if (!seq_written(w, vma, r)) {
			pyvma_vma_info(vma, &v);
			ret = SEQ_CALL(w, pyvma_relocate_vma_down(vma, v.start - op->a * SEQ_PAGE));
			if (!SEQ_BUGGED(w) && ret < 0)
				r->ret = ret;
		}
		if (w->bugged)	/* (Python's KernelBug cleared the BUG first: not mirrored) */
			return;
		seq_walk(w);
		for (i = 0; i < w->n && i < SEQ_ROWS; i++) {
			if (w->rows[i].end != SEQ_STACK_TOP_MAX)
				continue;
			ret = SEQ_CALL(w, pyvma_munmap(w->mm, w->rows[i].start,
						       w->rows[i].end - w->rows[i].start));
			if (SEQ_BUGGED(w))
				return;
			if (ret < 0)
				r->ret = ret;
			break;
		}
		return;
	}
	i = seq_target(w, op->a, r);
	if (i < 0)
		return;
	vma = w->rows[i].vma;
	switch (op->kind) {
	case PYVMA_SEQ_PAGESIZE:
		r->ret = pyvma_vma_mmu_pagesize(vma);
		return;
	case PYVMA_SEQ_RELOCATE:
		if (seq_written(w, vma, r))
			return;
		ret = SEQ_CALL(w, pyvma_relocate_vma_down(vma, op->b * SEQ_PAGE));
		if (!SEQ_BUGGED(w) && ret < 0)
			r->ret = ret;
		return;
	case PYVMA_SEQ_WRITENOTIFY: {
		int wants, dirty;

		if (op->extra) {
			pyvma_vma_set_ops(vma, op->extra - 1);
			w->stale = 1;
		}
		/* the named file it maps can write back or not */
		for (k = PYVMA_SEQ_F0; k < PYVMA_SEQ_NOBJS; k++)
			if ((w->named >> k & 1) && w->rows[i].file &&
			    (void *)w->file[k] == (void *)w->rows[i].file) {
				pyvma_file_set(w->file[k], PYVMA_FILE_CAN_WRITEBACK, !!op->c);
				break;
			}
		wants = SEQ_CALL(w, pyvma_vma_wants_writenotify(vma, op->b));
		if (SEQ_BUGGED(w))
			return;
		dirty = SEQ_CALL(w, pyvma_vma_needs_dirty_tracking(vma));
		if (SEQ_BUGGED(w))
			return;
		r->kind = PYVMA_SEQ_RET_WRITENOTIFY;
		r->ret = (wants != 0) << 1 | (dirty != 0);
		return;
	}
	}
}

/* ops.apply() of a valid operation other than fail: *r and w->bugged */
static void seq_apply(struct seq_world *w, const struct pyvma_seq_op *op, struct seq_ret *r)
{
	struct pyvma_site site;
	struct vm_area_struct *vma = NULL;
	unsigned long flags = seq_flags(w, op->flags);
	unsigned long s = op->a * SEQ_PAGE, e = op->b * SEQ_PAGE;
	int i, state;

	r->kind = PYVMA_SEQ_RET_INT;
	r->ret = 0;
	/* ops.apply() names the file before its call (insert: after its alloc) */
	if (op->kind != PYVMA_SEQ_INSERT)
		seq_name_file(w, op->file);
	switch (op->kind) {
	case PYVMA_SEQ_MAP:
		if (seq_map(w, op, flags, &vma, r))
			return;
		if (op->extra)		/* file "anon": vma_set_anonymous() */
			pyvma_vma_set_vm_ops(vma, 0);
		pyvma_vma_account(w->mm, vma);
		return;
	case PYVMA_SEQ_MERGE_NEW:
		vma = SEQ_CALL(w, pyvma_merge_new(w->mm, s, e, op->c, flags,
						  op->av ? w->av[op->av] : NULL,
						  op->file ? w->file[op->file] : NULL, &state));
		if (SEQ_BUGGED(w))
			return;
		if (!vma && state == PYVMA_MERGE_NOMERGE && seq_map(w, op, flags, &vma, r))
			return;
		if (vma)
			pyvma_account_range(w->mm, flags, op->b - op->a);
		r->kind = PYVMA_SEQ_RET_STATE;
		r->ret = state;
		return;
	case PYVMA_SEQ_MODIFY:
		seq_modify(w, op, flags, r);
		return;
	case PYVMA_SEQ_MUNMAP:
		r->ret = SEQ_CALL(w, pyvma_munmap(w->mm, s, e - s));
		SEQ_BUGGED(w);
		return;
	case PYVMA_SEQ_VM_MUNMAP:
		r->ret = SEQ_CALL(w, pyvma_vm_munmap(s, e - s, 0));
		SEQ_BUGGED(w);
		return;
	case PYVMA_SEQ_MMAP:
	case PYVMA_SEQ_MMAP_FILE:
	case PYVMA_SEQ_MMAP_PREPARE: {
		struct file *f = op->file ? w->file[op->file] : NULL;
		long ret;

		if (w->cfg->opts & PYVMA_SEQ_OPT_MMAP_CHECKS)
			ret = SEQ_CALL(w, pyvma_mmap(f, s, e - s, flags, op->c, 0));
		else
			ret = SEQ_CALL(w, pyvma_mmap_region(f, s, e - s, flags, op->c));
		if (SEQ_BUGGED(w))
			return;
		r->ret = ret >= 0 ? ret / (long)SEQ_PAGE : ret;
		return;
	}
	case PYVMA_SEQ_BRK: {
		struct vma_iterator *vmi;

		if (op->a > 0 && (i = seq_at(w, op->a - 1)) >= 0 && w->rows[i].end == s)
			vma = w->rows[i].vma;
		vmi = pyvma_vmi_new(w->mm, s);
		SEQ_CALL(w, pyvma_vmi_step(vmi, 1));
		if (!SEQ_BUGGED(w)) {
			SEQ_CALL(w, pyvma_vmi_step(vmi, -1));
			if (!SEQ_BUGGED(w)) {
				r->ret = SEQ_CALL(w, pyvma_brk(vmi, vma, s, e - s, 0));
				SEQ_BUGGED(w);
			}
		}
		pyvma_vmi_free(vmi);
		return;
	}
	case PYVMA_SEQ_MPROTECT: case PYVMA_SEQ_NAME: case PYVMA_SEQ_POLICY:
	case PYVMA_SEQ_UFFD: case PYVMA_SEQ_EXTEND: case PYVMA_SEQ_STACK:
	case PYVMA_SEQ_SPECIAL: case PYVMA_SEQ_ALL_LOCKS: case PYVMA_SEQ_LIMIT:
		seq_apply_path(w, op, flags, r);
		return;
	case PYVMA_SEQ_WRITENOTIFY: case PYVMA_SEQ_UNMAPPED_AREA: case PYVMA_SEQ_PAGESIZE:
	case PYVMA_SEQ_INIT_STACK: case PYVMA_SEQ_RELOCATE:
		seq_apply_query(w, op, r);
		return;
	case PYVMA_SEQ_INSERT:
		vma = SEQ_CALL(w, pyvma_vma_alloc(w->mm, s, e, op->c, flags));
		if (SEQ_BUGGED(w))
			return;
		if (!vma) {
			r->kind = PYVMA_SEQ_RET_CALLER_NOMEM;
			return;
		}
		seq_name_file(w, op->file);
		if (!op->file)
			pyvma_vma_set_vm_ops(vma, 0);
		else
			pyvma_vma_set_file(vma, w->file[op->file]);
		if (op->av)
			pyvma_vma_set_anon_vma(vma, w->av[op->av]);
		r->ret = SEQ_CALL(w, pyvma_insert_vm_struct(w->mm, vma));
		if (SEQ_BUGGED(w))
			return;
		if (r->ret)
			pyvma_vma_free(vma);
		return;
	}
	/* the operations on the VMA at page a */
	i = seq_target(w, op->a, r);
	if (i < 0)
		return;
	vma = w->rows[i].vma;
	switch (op->kind) {
	case PYVMA_SEQ_SET_FLAGS:
		pyvma_vma_set_flags(vma, w->rows[i].flags | flags);
		return;
	case PYVMA_SEQ_EXPAND:
		r->ret = SEQ_CALL(w, pyvma_expand(w->mm, vma, NULL, w->rows[i].start, e,
						  w->rows[i].pgoff, &state));
		break;
	case PYVMA_SEQ_SHRINK:
		r->ret = SEQ_CALL(w, pyvma_shrink(w->mm, vma, w->rows[i].start, e,
						  w->rows[i].pgoff));
		break;
	case PYVMA_SEQ_SPLIT:
		r->ret = SEQ_CALL(w, pyvma_split(w->mm, vma, s, op->extra));
		break;
	case PYVMA_SEQ_FAULT:
		r->ret = SEQ_CALL(w, pyvma_anon_vma_prepare(vma));
		break;
	case PYVMA_SEQ_COPY_VMA: {
		struct vm_area_struct *src = vma, *new;
		unsigned long vs = w->rows[i].start, ve = w->rows[i].end, pgoff = w->rows[i].pgoff;
		unsigned long anon = w->cfg->opts & PYVMA_SEQ_OPT_ANON_PGOFF ?
				     w->rows[i].anon_pgoff : pgoff;
		int need = 0;

		new = SEQ_CALL(w, pyvma_copy_vma(&src, op->b * SEQ_PAGE, ve - vs, pgoff, anon,
						 &need, 0));
		if (SEQ_BUGGED(w))
			return;
		if (!new) {
			r->kind = PYVMA_SEQ_RET_STATE;
			r->ret = PYVMA_MERGE_ERROR_NOMEM;
			return;
		}
		if (op->extra)
			r->ret = SEQ_CALL(w, pyvma_munmap(w->mm, vs, ve - vs));
		break;
	}
	}
	SEQ_BUGGED(w);
}

/* ---- the record ------------------------------------------------------------ */

static unsigned short seq_id(struct seq_world *w, const void *p, const void **fresh, int *nfresh)
{
	int i;

	if (!p)
		return 0;
	for (i = PYVMA_SEQ_AV0; i <= PYVMA_SEQ_AV1; i++)
		if (p == w->av[i])
			return i;
	for (i = PYVMA_SEQ_F0; i < PYVMA_SEQ_NOBJS; i++)
		if (p == w->file[i])
			return i;
	for (i = 0; i < *nfresh; i++)
		if (fresh[i] == p)
			return PYVMA_SEQ_FRESH + 1 + i;
	fresh[*nfresh] = p;
	return PYVMA_SEQ_FRESH + 1 + (*nfresh)++;
}

static int seq_record(struct seq_world *w, struct pyvma_seq_rec *rec)
{
	const void *fresh[2 * SEQ_ROWS];
	int i, nfresh = 0;

	if (!seq_walk(w))
		return -1;
	for (i = 0; i < w->n; i++)	/* (a stack left at STACK_TOP_MAX: no page fits) */
		if (w->rows[i].end / SEQ_PAGE > 0xffffffffUL)
			return -1;
	rec->nrows = w->n;
	rec->map_count = pyvma_mm_map_count(w->mm);
	pyvma_mm_counters(w->mm, rec->counters, 7);
	rec->locks_held = pyvma_locks_held();
	rec->peak_locks = w->peak_locks;
	rec->files_named = w->named;
	for (i = PYVMA_SEQ_F0; i < PYVMA_SEQ_NOBJS; i++) {
		if (!(w->named & 1U << i))
			continue;
		rec->file_refs[i] = pyvma_file_stat(w->file[i], PYVMA_FILE_REFS);
		rec->file_i_mmap[i] = pyvma_file_stat(w->file[i], PYVMA_FILE_I_MMAP_VMAS);
		rec->file_writable[i] = pyvma_file_stat(w->file[i], PYVMA_FILE_WRITABLE);
	}
	for (i = 0; i < w->n; i++) {
		const struct pyvma_vma_info *v = &w->rows[i];
		struct pyvma_seq_row *row = &rec->rows[i];
		unsigned long f = v->flags;

		row->start = v->start / SEQ_PAGE;
		row->end = v->end / SEQ_PAGE;
		row->pgoff = v->pgoff;
		while (f) {
			int b = __builtin_ctzl(f);

			row->flags[0] |= w->cfg->canon[b][0];
			row->flags[1] |= w->cfg->canon[b][1];
			f &= f - 1;
		}
		row->anon = seq_id(w, v->anon_vma, fresh, &nfresh);
		row->file = seq_id(w, v->file, fresh, &nfresh);
		row->avc = pyvma_vma_avc_count(v->vma);
		row->vm_ops = pyvma_vma_vm_ops(v->vma);
		if (w->cfg->opts & PYVMA_SEQ_OPT_RECORD_ANON_PGOFF)
			row->anon_pgoff = v->anon_pgoff;
	}
	return 0;
}

static int seq_class(const struct pyvma_seq_rec *rec)
{
	switch (rec->ret_kind) {
	case PYVMA_SEQ_RET_INT:
		if (rec->ret >= 0)
			return 0;
		return -rec->ret < PYVMA_SEQ_CLASS_ERRNO_END - PYVMA_SEQ_CLASS_ERRNO ?
		       PYVMA_SEQ_CLASS_ERRNO - rec->ret : PYVMA_SEQ_CLASS_ERRNO_END - 1;
	case PYVMA_SEQ_RET_STATE:
		return 5 + (rec->ret & 3);
	case PYVMA_SEQ_RET_BUG:
		return 1;
	case PYVMA_SEQ_RET_INVALID:
		return 2;
	case PYVMA_SEQ_RET_NOVMA:
		return 3;
	case PYVMA_SEQ_RET_RETURNED:
		return 9;
	case PYVMA_SEQ_RET_WRITENOTIFY:
		return PYVMA_SEQ_CLASS_WRITENOTIFY + (rec->ret & 3);
	case PYVMA_SEQ_RET_ADDRESS:
		return PYVMA_SEQ_CLASS_ADDRESS;
	default:
		return 4;
	}
}
