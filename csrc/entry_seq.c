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
 * count, BUG.  A BUG ends
 * the sequence at its operation.  With @generate, each operation is first drawn
 * by a seeded generator against the current layout (valid by construction, as
 * ops.OpGenerator's are).  The top of the layers (pyvma_internal.h): it calls
 * entry points of every other glue file, none calls it.
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
/* the fault sites a fail operation may arm (ops.ALL_FAIL_SITES) */
#define SEQ_FAIL_SITES (1UL << PYVMA_FAULT_PREALLOC | 1UL << PYVMA_FAULT_VMA_ALLOC |	\
			1UL << PYVMA_FAULT_ANON_VMA_CLONE | 1UL << PYVMA_FAULT_FATAL_SIGNAL |	\
			1UL << PYVMA_FAULT_MAS_STORE | 1UL << PYVMA_FAULT_MAY_EXPAND_VM |	\
			1UL << PYVMA_FAULT_VM_ENOUGH_MEMORY | 1UL << PYVMA_FAULT_MLOCK_FUTURE_OK | \
			1UL << PYVMA_FAULT_ANON_VMA_PREPARE | 1UL << PYVMA_FAULT_DUP_POLICY |	\
			1UL << PYVMA_FAULT_SIGNAL_PENDING |					\
			1UL << PYVMA_FAULT_MMAP_ACTION_PREPARE |				\
			1UL << PYVMA_FAULT_MMAP_ACTION_COMPLETE)
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
	case PYVMA_SEQ_FAIL:	/* ops.ALL_FAIL_SITES */
		return 0 <= op->a && op->a < 32 && (SEQ_FAIL_SITES >> op->a & 1);
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

/* ops.modify_flags(): the existing-range merge, else split and set */
static void seq_modify(struct seq_world *w, const struct pyvma_seq_op *op, unsigned long flags,
		       struct seq_ret *r)
{
	struct pyvma_site site;
	struct vm_area_struct *vma, *prev, *merged;
	unsigned long s = op->a * SEQ_PAGE, e, start;
	int i = seq_at(w, op->a), state;

	if (i < 0) {
		r->kind = PYVMA_SEQ_RET_NOVMA;
		return;
	}
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
	i = seq_at(w, op->a);
	if (i < 0) {
		r->kind = PYVMA_SEQ_RET_NOVMA;
		return;
	}
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
	i = seq_at(w, op->a);
	if (i < 0) {
		r->kind = PYVMA_SEQ_RET_NOVMA;
		return;
	}
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
	i = seq_at(w, op->a);
	if (i < 0) {
		r->kind = PYVMA_SEQ_RET_NOVMA;
		return;
	}
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

/* ---- the generator (ops.OpGenerator's choices, its own PRNG) --------------- */

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
static int seq_gen_entry(struct seq_world *w, int kind, struct pyvma_seq_op *op)
{
	static const int sites[] = { PYVMA_FAULT_PREALLOC, PYVMA_FAULT_VMA_ALLOC,
				     PYVMA_FAULT_ANON_VMA_CLONE, PYVMA_FAULT_FATAL_SIGNAL,
				     PYVMA_FAULT_MAS_STORE, PYVMA_FAULT_MAY_EXPAND_VM,
				     PYVMA_FAULT_VM_ENOUGH_MEMORY, PYVMA_FAULT_MLOCK_FUTURE_OK,
				     PYVMA_FAULT_ANON_VMA_PREPARE, PYVMA_FAULT_DUP_POLICY,
				     PYVMA_FAULT_SIGNAL_PENDING, PYVMA_FAULT_MMAP_ACTION_PREPARE,
				     PYVMA_FAULT_MMAP_ACTION_COMPLETE };
	static const long limit_pages[] = { -1, 0, 2, 4, 8, 16 };
	long s, e;

	op->kind = kind;
	switch (kind) {
	case PYVMA_SEQ_FAIL:
		/* ops.FAIL_SITES more often than the others */
		op->a = sites[seq_rnd(w) < 0.6 ? seq_int(w, 0, 3) : seq_int(w, 0, 12)];
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
		long nxt = SEQ_GEN_PAGES;
		int i;

		for (i = 0; i < w->n; i++)
			if ((long)(w->rows[i].start / SEQ_PAGE) >= e &&
			    (long)(w->rows[i].start / SEQ_PAGE) < nxt)
				nxt = w->rows[i].start / SEQ_PAGE;
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
		long nxt = SEQ_GEN_PAGES;
		int i;

		for (i = 0; i < w->n; i++)
			if ((long)(w->rows[i].start / SEQ_PAGE) >= e &&
			    (long)(w->rows[i].start / SEQ_PAGE) < nxt)
				nxt = w->rows[i].start / SEQ_PAGE;
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
		if (w->cfg->gen_kinds & (1U << k))
			kinds[nk++] = k;
	if (nk && seq_rnd(w) < 0.35 && seq_gen_entry(w, kinds[seq_int(w, 0, nk - 1)], op))
		return;
	memset(op, 0, sizeof(*op));
	seq_gen_basic(w, op);
}

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
			w->pending = op->a + 1;
			w->pending_after = op->extra;
		} else {
			armed = w->pending;
			w->pending = 0;
			if (armed)
				pyvma_fault_set(armed - 1, 1, w->pending_after,
						armed - 1 == PYVMA_FAULT_FATAL_SIGNAL ? 0 : 1);
			warns0 = pyvma_warn_count();
			warns0 = warns0 < SEQ_WARN_MAX ? warns0 : SEQ_WARN_MAX;
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
