// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma operation sequences in C, the caller operations: the system calls of
 * pyvma/engine/callers.py (mremap, mprotect, madvise, mlock/mlock2/munlock,
 * mlockall, mseal) as it states them, step for step: the same entry points, in
 * the same order, each call its own mmap-lock session (SEQ_CALL), the same
 * accounting.  Their kinds and arguments are callers_spec.py's (fast.py encodes
 * them).  Uses entry_seq.c's world; called by entry_seq_run.c.
 */
#include "pyvma_internal.h"

/* a BUG ended the operation (w->bugged set) */
#define SC_BUG 1
/* fast.CALLER_FLAGS: the flags the callers test beyond fast.FLAG_NAMES */
enum { SEQ_C_SEALED, SEQ_C_LOCKONFAULT, SEQ_C_ACCOUNT, SEQ_C_HUGETLB, SEQ_C_NORESERVE,
       SEQ_C_MAYEXEC, SEQ_C_DONTCOPY, SEQ_C_WIPEONFORK, SEQ_C_MERGEABLE, SEQ_C_MIXEDMAP,
       SEQ_C_DROPPABLE };
/* the named arguments by their index in callers_spec's tuples (MREMAP_HOW, ADVICE,
 * mlock's and mlockall's ways) */
enum { SEQ_MREMAP_RESIZE, SEQ_MREMAP_FIXED, SEQ_MREMAP_DONTUNMAP };
enum { SEQ_MADV_GUARD_INSTALL, SEQ_MADV_GUARD_REMOVE, SEQ_MADV_DONTFORK, SEQ_MADV_DOFORK,
       SEQ_MADV_WIPEONFORK, SEQ_MADV_KEEPONFORK, SEQ_MADV_MERGEABLE };
enum { SEQ_MLOCK_MLOCK, SEQ_MLOCK_ONFAULT, SEQ_MLOCK_MUNLOCK };
enum { SEQ_MLOCKALL_CURRENT, SEQ_MLOCKALL_ONFAULT, SEQ_MLOCKALL_MUNLOCKALL };
#define SEQ_LOCKED_VM 1			/* MM.MM_COUNTERS' locked_vm */

/* what one loop's operation needs to compute a VMA's new flags */
struct seq_caller {
	int prot;			/* mprotect: PROT_* bits */
	unsigned long s, e;		/* mprotect: the range */
	unsigned long to_add;		/* mlock: the lock flags set (0: cleared) */
	int advice;			/* madvise: SEQ_MADV_* */
	unsigned long bit;		/* madvise: the flag set or cleared */
	int set;
	int raised;			/* a step whose error the caller does not catch */
	/* mprotect: the VMA's flags before, after, and its pages in the range */
	unsigned long old, nf;
	long pages;
};

static unsigned long sc_f(struct seq_world *w, int name)
{
	return w->cfg->flag_values[name];
}

static unsigned long sc_cf(struct seq_world *w, int name)
{
	return w->cfg->caller_flags[name];
}

/* the rows, walked again when kernel code ran or a flag was set since the last walk */
static void sc_rows(struct seq_world *w)
{
	if (w->stale)
		seq_walk(w);
}

/* vm_flags_reset() of a VMA the rows hold: they are stale */
static void sc_set_flags(struct seq_world *w, struct vm_area_struct *vma, unsigned long f)
{
	pyvma_vma_set_flags(vma, f);
	w->stale = 1;
}

/* callers.vma_at(): the row of the VMA holding @addr, -1: none */
static int sc_at(struct seq_world *w, unsigned long addr)
{
	int i;

	sc_rows(w);
	for (i = 0; i < w->n && i < SEQ_ROWS; i++)
		if (w->rows[i].start <= addr && addr < w->rows[i].end)
			return i;
	return -1;
}

/* the first row ending above @addr, -1: none */
static int sc_from(struct seq_world *w, unsigned long addr)
{
	int i;

	sc_rows(w);
	for (i = 0; i < w->n && i < SEQ_ROWS; i++)
		if (w->rows[i].end > addr)
			return i;
	return -1;
}

/* callers.covered() */
static int sc_covered(struct seq_world *w, unsigned long s, unsigned long e)
{
	unsigned long at = s;
	int i;

	sc_rows(w);
	for (i = 0; i < w->n && i < SEQ_ROWS; i++) {
		if (w->rows[i].end <= s || w->rows[i].start >= e)
			continue;
		if (w->rows[i].start > at)
			return 0;
		at = w->rows[i].end;
	}
	return at >= e;
}

/* callers.sealed() */
static int sc_sealed(struct seq_world *w, unsigned long s, unsigned long e)
{
	int i;

	sc_rows(w);
	for (i = 0; i < w->n && i < SEQ_ROWS; i++)
		if (w->rows[i].end > s && w->rows[i].start < e &&
		    (w->rows[i].flags & sc_cf(w, SEQ_C_SEALED)))
			return 1;
	return 0;
}

static unsigned long sc_flags(struct vm_area_struct *vma)
{
	struct pyvma_vma_info v;

	pyvma_vma_info(vma, &v);
	return v.flags;
}

/* callers.add_counter(): mm->locked_vm += pages */
static void sc_locked_add(struct seq_world *w, long pages)
{
	unsigned long c[7];

	pyvma_mm_counters(w->mm, c, 7);
	pyvma_mm_set_counter(w->mm, SEQ_LOCKED_VM, c[SEQ_LOCKED_VM] + pages);
}

/* callers.fault(): anon_vma_prepare() of a private writable VMA; 0, -errno, SC_BUG */
static long sc_fault(struct seq_world *w, struct vm_area_struct *vma)
{
	struct pyvma_site site;
	unsigned long f = sc_flags(vma);
	long err;

	if (!(f & sc_f(w, 1)) || (f & sc_f(w, SEQ_F_SHARED)))
		return 0;
	err = SEQ_CALL(w, pyvma_anon_vma_prepare(vma));
	return SEQ_BUGGED(w) ? SC_BUG : err < 0 ? err : 0;
}

/* callers.fixup(): [s, e) of *vmap to @nf through vma_modify_flags(), the flags
 * it left set on the VMA it returned (*vmap); 0, -errno or SC_BUG */
static long sc_fixup(struct seq_world *w, struct vm_area_struct *prev,
		     struct vm_area_struct **vmap, unsigned long s, unsigned long e,
		     unsigned long nf)
{
	struct pyvma_site site;
	struct vma_iterator *vmi;
	struct vm_area_struct *got;
	unsigned long word = nf;
	long err = 0;

	if (nf == sc_flags(*vmap))
		return 0;
	vmi = pyvma_vmi_new(w->mm, s);
	got = SEQ_CALL(w, pyvma_modify_flags(vmi, prev, *vmap, s, e, &word, &err));
	pyvma_vmi_free(vmi);
	if (SEQ_BUGGED(w))
		return SC_BUG;
	if (err || !got)
		return err ? err : -ENOMEM;
	sc_set_flags(w, got, word);
	*vmap = got;
	return 0;
}

/* what a loop's operation makes of one VMA's flags: the new flags, or -errno */
typedef long (*sc_new_fn)(struct seq_world *w, struct seq_caller *c,
			  struct vm_area_struct *vma, unsigned long *nf);
/* what follows each VMA's fixup (fixup_loop()'s after): 0, -errno raised, SC_BUG */
typedef long (*sc_after_fn)(struct seq_world *w, struct seq_caller *c,
			    struct vm_area_struct *vma);

/* callers.fixup_loop(); @after: run on the VMA each fixup returned */
static long sc_loop(struct seq_world *w, struct seq_caller *c, unsigned long s,
		    unsigned long e, sc_new_fn fn, sc_after_fn after, int holes_ok)
{
	struct vm_area_struct *vma, *prev = NULL;
	unsigned long at, end, nf, vend;
	int i = sc_from(w, s), hole;
	long err;

	if (i < 0 || (w->rows[i].start > s && !holes_ok) || w->rows[i].start >= e)
		return -ENOMEM;
	vma = w->rows[i].vma;
	hole = w->rows[i].start > s;
	at = s > w->rows[i].start ? s : w->rows[i].start;
	/* callers.prev_of() */
	if (at > w->rows[i].start)
		prev = vma;
	else if (i > 0)
		prev = w->rows[i - 1].vma;
	for (;;) {
		struct pyvma_vma_info v;

		pyvma_vma_info(vma, &v);
		end = v.end < e ? v.end : e;
		err = fn(w, c, vma, &nf);
		if (err < 0)
			return err;
		err = sc_fixup(w, prev, &vma, at, end, nf);
		if (err)
			return err;
		if (after && (err = after(w, c, vma))) {
			/* the after step's KernelError ends the system call */
			c->raised = 1;
			return err;
		}
		pyvma_vma_info(vma, &v);
		vend = v.end < e ? v.end : e;
		prev = vma;
		at = end > vend ? end : vend;
		if (at >= e)
			return hole ? -ENOMEM : 0;
		i = sc_from(w, at);
		if (i < 0 || w->rows[i].start >= e)
			return -ENOMEM;
		if (w->rows[i].start != at) {
			if (!holes_ok)
				return -ENOMEM;
			hole = 1;
			at = w->rows[i].start;
		}
		vma = w->rows[i].vma;
	}
}

/* ---- mprotect(2) ------------------------------------------------------------ */

static long sc_mprotect_new(struct seq_world *w, struct seq_caller *c,
			    struct vm_area_struct *vma, unsigned long *nf)
{
	static const int may[3] = { 2, 3, SEQ_C_MAYEXEC };
	unsigned long acc = sc_f(w, 0) | sc_f(w, 1) | sc_f(w, SEQ_F_EXEC), bits = 0, f, n;
	struct pyvma_vma_info v;
	int b;

	pyvma_vma_info(vma, &v);
	f = v.flags;
	if (f & sc_cf(w, SEQ_C_SEALED))
		return -EPERM;
	for (b = 0; b < 3; b++)
		if (c->prot & (1 << b))
			bits |= sc_f(w, b == 2 ? SEQ_F_EXEC : b);
	n = (f & ~acc) | bits;
	for (b = 0; b < 3; b++) {
		unsigned long a = sc_f(w, b == 2 ? SEQ_F_EXEC : b);
		unsigned long m = b == 2 ? sc_cf(w, may[b]) : sc_f(w, may[b]);

		if ((n & a) && !(f & m))
			return -EACCES;
	}
	if (n & sc_f(w, 1)) {
		if (!(f & (sc_cf(w, SEQ_C_ACCOUNT) | sc_f(w, 1) | sc_cf(w, SEQ_C_HUGETLB) |
			   sc_f(w, SEQ_F_SHARED) | sc_cf(w, SEQ_C_NORESERVE))))
			n |= sc_cf(w, SEQ_C_ACCOUNT);
	} else if ((f & sc_cf(w, SEQ_C_ACCOUNT)) && pyvma_vma_is_anonymous(vma) && !v.anon_vma) {
		n &= ~sc_cf(w, SEQ_C_ACCOUNT);
	}
	c->old = f;
	c->nf = n;
	c->pages = (long)(((v.end < c->e ? v.end : c->e) - (v.start > c->s ? v.start : c->s)) /
			  SEQ_PAGE);
	*nf = n;
	return 0;
}

/* mprotect_fixup(): vm_stat_account() of the old flags out, the new in; a locked
 * private VMA made writable populated (not VM_LOCKONFAULT) */
static long sc_mprotect_after(struct seq_world *w, struct seq_caller *c,
			      struct vm_area_struct *vma)
{
	unsigned long lk = sc_f(w, SEQ_F_LOCKED);

	if (c->old != c->nf) {
		pyvma_account_range(w->mm, c->old, -c->pages);
		pyvma_account_range(w->mm, c->nf, c->pages);
	}
	if ((c->old & (sc_f(w, 1) | sc_f(w, SEQ_F_SHARED) | lk)) == lk &&
	    (c->nf & sc_f(w, 1)) && !(c->nf & sc_cf(w, SEQ_C_LOCKONFAULT)))
		return sc_fault(w, vma);
	return 0;
}

/* ---- mlock(2), mlock2(MLOCK_ONFAULT), munlock(2), mlockall(2) ------------------ */

static long sc_lock_new(struct seq_world *w, struct seq_caller *c,
			struct vm_area_struct *vma, unsigned long *nf)
{
	unsigned long locked = sc_f(w, SEQ_F_LOCKED) | sc_cf(w, SEQ_C_LOCKONFAULT);
	unsigned long special = sc_f(w, SEQ_F_IO) | sc_f(w, SEQ_F_DONTEXPAND) |
				sc_f(w, SEQ_F_PFNMAP) | sc_cf(w, SEQ_C_MIXEDMAP);
	unsigned long f = sc_flags(vma);

	*nf = (f & special) ? f : (f & ~locked) | c->to_add;
	return 0;
}

static long sc_locked_pages(struct seq_world *w)
{
	long pages = 0;
	int i;

	sc_rows(w);
	for (i = 0; i < w->n && i < SEQ_ROWS; i++)
		if (w->rows[i].flags & sc_f(w, SEQ_F_LOCKED))
			pages += (w->rows[i].end - w->rows[i].start) / SEQ_PAGE;
	return pages;
}

/* callers._lock_range() */
static long sc_lock_range(struct seq_world *w, unsigned long s, unsigned long e,
			  unsigned long to_add, int populate, int *raised)
{
	struct seq_caller c = { .to_add = to_add };
	struct vm_area_struct *vmas[SEQ_ROWS];
	long before = sc_locked_pages(w), ret, err;
	int i, n;

	ret = sc_loop(w, &c, s, e, sc_lock_new, NULL, 0);
	if (w->bugged)
		return SC_BUG;
	sc_locked_add(w, sc_locked_pages(w) - before);
	if (!populate || ret)
		return ret;
	/* __mm_populate() after a success only: a fault on each VMA of the range */
	sc_rows(w);
	for (i = n = 0; i < w->n && i < SEQ_ROWS; i++)
		if (w->rows[i].end > s && w->rows[i].start < e)
			vmas[n++] = w->rows[i].vma;
	for (i = 0; i < n; i++) {
		err = sc_fault(w, vmas[i]);
		if (err == SC_BUG)
			return SC_BUG;
		if (err) {
			*raised = 1;
			return err;
		}
	}
	return ret;
}

static long sc_mlock(struct seq_world *w, unsigned long s, unsigned long e, int how)
{
	unsigned long lock = sc_f(w, SEQ_F_LOCKED) |
			     (how == SEQ_MLOCK_ONFAULT ? sc_cf(w, SEQ_C_LOCKONFAULT) : 0);

	int raised = 0;

	return sc_lock_range(w, s, e, how == SEQ_MLOCK_MUNLOCK ? 0 : lock,
			     how == SEQ_MLOCK_MLOCK, &raised);
}

static long sc_mlockall(struct seq_world *w, int how)
{
	unsigned long ranges[SEQ_ROWS][2], add = 0;
	long ret = 0, got;
	int i, n, raised = 0;

	sc_rows(w);
	n = w->n < SEQ_ROWS ? w->n : SEQ_ROWS;
	for (i = 0; i < n; i++) {
		ranges[i][0] = w->rows[i].start;
		ranges[i][1] = w->rows[i].end;
	}
	if (how != SEQ_MLOCKALL_MUNLOCKALL)
		add = sc_f(w, SEQ_F_LOCKED) |
		      (how == SEQ_MLOCKALL_ONFAULT ? sc_cf(w, SEQ_C_LOCKONFAULT) : 0);
	for (i = 0; i < n; i++) {
		got = sc_lock_range(w, ranges[i][0], ranges[i][1], add,
				    how == SEQ_MLOCKALL_CURRENT, &raised);
		if (w->bugged)
			return SC_BUG;
		if (raised)
			return got;
		ret = ret ? ret : got;
	}
	return ret;
}

/* ---- madvise(2) ------------------------------------------------------------- */

/* callers.sealed_discard(): can_madvise_modify() refuses a discarding advice on a
 * sealed anonymous VMA the user cannot write */
static int sc_sealed_discard(struct seq_world *w, struct vm_area_struct *vma)
{
	unsigned long f = sc_flags(vma);

	return (f & sc_cf(w, SEQ_C_SEALED)) && pyvma_vma_is_anonymous(vma) &&
	       !(f & sc_f(w, 1));
}

/* callers_ksm.ksm_compatible() */
static int sc_ksm_compatible(struct seq_world *w, unsigned long f)
{
	return !(f & (sc_f(w, SEQ_F_SHARED) | sc_f(w, SEQ_F_MAYSHARE) |
		      sc_cf(w, SEQ_C_HUGETLB) | sc_cf(w, SEQ_C_DROPPABLE) | sc_f(w, SEQ_F_IO) |
		      sc_f(w, SEQ_F_DONTEXPAND) | sc_f(w, SEQ_F_PFNMAP) |
		      sc_cf(w, SEQ_C_MIXEDMAP)));
}

static long sc_madvise_new(struct seq_world *w, struct seq_caller *c,
			   struct vm_area_struct *vma, unsigned long *nf)
{
	unsigned long f = sc_flags(vma);

	if ((c->advice == SEQ_MADV_DONTFORK || c->advice == SEQ_MADV_WIPEONFORK) &&
	    sc_sealed_discard(w, vma))
		return -EPERM;
	if (c->advice == SEQ_MADV_DOFORK && (f & sc_f(w, SEQ_F_IO)))
		return -EINVAL;
	if (c->advice == SEQ_MADV_WIPEONFORK &&
	    (!pyvma_vma_is_anonymous(vma) || (f & sc_f(w, SEQ_F_SHARED))))
		return -EINVAL;
	if (c->advice == SEQ_MADV_MERGEABLE && !sc_ksm_compatible(w, f)) {
		*nf = f;		/* ksm_madvise(): the advice ignored */
		return 0;
	}
	*nf = c->set ? f | c->bit : f & ~c->bit;
	return 0;
}

static long sc_madvise(struct seq_world *w, unsigned long s, unsigned long e, int adv)
{
	/* callers_spec.MADV_FLAG, in ADVICE's order after the guard ones */
	static const int flag_of[] = { SEQ_C_DONTCOPY, SEQ_C_DONTCOPY, SEQ_C_WIPEONFORK,
				       SEQ_C_WIPEONFORK, SEQ_C_MERGEABLE, SEQ_C_MERGEABLE };
	struct seq_caller c = { .advice = adv };
	struct pyvma_site site;
	long err;
	int i, n;

	if (adv == SEQ_MADV_GUARD_INSTALL) {
		struct vm_area_struct *vmas[SEQ_ROWS];
		unsigned long bad = sc_cf(w, SEQ_C_HUGETLB) | sc_f(w, SEQ_F_LOCKED) |
				    sc_cf(w, SEQ_C_LOCKONFAULT) | sc_f(w, SEQ_F_IO) |
				    sc_f(w, SEQ_F_DONTEXPAND) | sc_f(w, SEQ_F_PFNMAP) |
				    sc_cf(w, SEQ_C_MIXEDMAP);

		sc_rows(w);
		for (i = n = 0; i < w->n && i < SEQ_ROWS; i++) {
			if (w->rows[i].end <= s || w->rows[i].start >= e)
				continue;
			vmas[n++] = w->rows[i].vma;
		}
		for (i = 0; i < n; i++) {	/* madvise_walk_vmas(): VMA by VMA */
			if (sc_flags(vmas[i]) & bad)
				return -EINVAL;
			if (sc_sealed_discard(w, vmas[i]))
				return -EPERM;
			if (w->cfg->opts & PYVMA_SEQ_OPT_MAYBE_GUARD)
				sc_set_flags(w, vmas[i], sc_flags(vmas[i]) |
					     sc_f(w, 5));	/* VM_MAYBE_GUARD */
			if (pyvma_vma_is_anonymous(vmas[i])) {
				err = SEQ_CALL(w, pyvma_anon_vma_prepare(vmas[i]));
				if (SEQ_BUGGED(w))
					return SC_BUG;
				if (err < 0)
					return err;
			}
		}
		return sc_covered(w, s, e) ? 0 : -ENOMEM;
	}
	if (adv == SEQ_MADV_GUARD_REMOVE)
		return sc_covered(w, s, e) ? 0 : -ENOMEM;
	c.bit = sc_cf(w, flag_of[adv - SEQ_MADV_DONTFORK]);
	c.set = !((adv - SEQ_MADV_DONTFORK) & 1);
	if (!c.bit)
		return -EINVAL;
	return sc_loop(w, &c, s, e, sc_madvise_new, NULL, 1);
}

/* ---- mseal(2) --------------------------------------------------------------- */

static long sc_seal_new(struct seq_world *w, struct seq_caller *c,
			struct vm_area_struct *vma, unsigned long *nf)
{
	*nf = sc_flags(vma) | sc_cf(w, SEQ_C_SEALED);
	return 0;
}

static long sc_mseal(struct seq_world *w, unsigned long s, unsigned long e)
{
	if (!sc_cf(w, SEQ_C_SEALED))
		return -ENOSYS;
	if (!sc_covered(w, s, e))
		return -ENOMEM;
	return sc_loop(w, NULL, s, e, sc_seal_new, NULL, 0);
}

/* ---- mremap(2) -------------------------------------------------------------- */

/* callers.move_vma() */
static long sc_move_vma(struct seq_world *w, struct vm_area_struct *vma, unsigned long s,
			unsigned long len, unsigned long dst, int dontunmap)
{
	struct pyvma_site site;
	struct pyvma_vma_info v;
	struct vm_area_struct *src = vma, *got;
	unsigned long accounted, pages = len / SEQ_PAGE, pgoff, anon, offset;
	int need = 0, acc_start = 0, acc_end = 0, was_locked, i, side;
	long ret;

	pyvma_vma_info(vma, &v);
	offset = (s - v.start) / SEQ_PAGE;
	accounted = v.flags & sc_cf(w, SEQ_C_ACCOUNT);
	if (dontunmap && accounted)
		pyvma_set_committed(pyvma_committed() + pages);
	pgoff = v.pgoff + offset;
	anon = w->cfg->opts & PYVMA_SEQ_OPT_ANON_PGOFF ? v.anon_pgoff + offset : pgoff;
	got = SEQ_CALL(w, pyvma_copy_vma(&src, dst, len, pgoff, anon, &need,
					 dontunmap && (w->cfg->opts & PYVMA_SEQ_OPT_KEEP_SOURCE)));
	if (SEQ_BUGGED(w))
		return SC_BUG;
	if (!got) {
		if (dontunmap && accounted)
			pyvma_set_committed(pyvma_committed() - pages);
		return -ENOMEM;
	}
	vma = src;
	if (accounted && !dontunmap) {
		sc_set_flags(w, vma, sc_flags(vma) & ~accounted);	/* conceal it */
		pyvma_vma_info(vma, &v);
		acc_start = v.start < s;
		acc_end = v.end > s + len;
	}
	pyvma_account_range(w->mm, sc_flags(vma), pages);
	if (dontunmap) {
		sc_set_flags(w, vma, sc_flags(vma) &
			     ~(sc_f(w, SEQ_F_LOCKED) | sc_cf(w, SEQ_C_LOCKONFAULT)));
		pyvma_vma_info(vma, &v);
		if (v.start == s && v.end == s + len && v.anon_vma) {
			/* the whole VMA moved: unlink_anon_vmas(), unfaulted again */
			pyvma_vma_set_anon_vma(vma, NULL);
			if (w->cfg->opts & PYVMA_SEQ_OPT_ANON_PGOFF)
				pyvma_vma_set_anon_pgoff(vma, v.start / SEQ_PAGE);
			w->stale = 1;
		}
		return dst;
	}
	was_locked = !!(sc_flags(vma) & sc_f(w, SEQ_F_LOCKED));
	ret = SEQ_CALL(w, pyvma_munmap(w->mm, s, len));
	if (SEQ_BUGGED(w))
		return SC_BUG;
	if (ret < 0)
		return ret;
	if (was_locked)
		sc_locked_add(w, pages);
	for (side = 0; side < 2; side++) {
		if (!(side ? acc_end : acc_start))
			continue;
		i = sc_at(w, side ? s + len : s - 1);
		if (i >= 0)
			sc_set_flags(w, w->rows[i].vma, w->rows[i].flags | accounted);
	}
	return dst;
}

/* callers.remap_move(): each VMA of [s, s + len) moved on its own to the same
 * offset from @dst (gaps kept); a gap at the start is -EFAULT; the first error ends it */
static long sc_remap_move(struct seq_world *w, unsigned long s, unsigned long len,
			  unsigned long dst, int dontunmap)
{
	unsigned long pieces[SEQ_ROWS][2], a, b, t;
	struct pyvma_site site;
	long ret;
	int i, n;

	sc_rows(w);
	for (i = n = 0; i < w->n && i < SEQ_ROWS; i++) {
		if (w->rows[i].end <= s || w->rows[i].start >= s + len)
			continue;
		pieces[n][0] = w->rows[i].start > s ? w->rows[i].start : s;
		pieces[n][1] = w->rows[i].end < s + len ? w->rows[i].end : s + len;
		n++;
	}
	if (!n || pieces[0][0] > s)
		return -EFAULT;
	for (i = 0; i < n; i++) {
		int at;

		a = pieces[i][0];
		b = pieces[i][1];
		at = sc_at(w, a);
		if (at < 0)
			return -EFAULT;
		if (sc_sealed(w, a, b))
			return -EPERM;
		at = sc_at(w, a);
		if (dontunmap && (w->rows[at].flags &
				  (sc_f(w, SEQ_F_DONTEXPAND) | sc_f(w, SEQ_F_PFNMAP))))
			return -EINVAL;
		t = dst + (a - s);
		ret = SEQ_CALL(w, pyvma_munmap(w->mm, t, b - a));	/* the target */
		if (SEQ_BUGGED(w))
			return SC_BUG;
		if (ret < 0)
			return ret;
		at = sc_at(w, a);
		if (at < 0)
			return -EFAULT;
		ret = sc_move_vma(w, w->rows[at].vma, a, b - a, t, dontunmap);
		if (w->bugged)
			return SC_BUG;
		if (ret < 0)
			return ret;
	}
	return dst;
}

/* callers.mremap() of [s, s + old) */
static long sc_mremap(struct seq_world *w, unsigned long s, unsigned long old,
		      unsigned long new, long dst_page, int how)
{
	struct pyvma_site site;
	struct vm_area_struct *vma, *got;
	struct vma_iterator *vmi;
	unsigned long dst = dst_page < 0 ? 0 : dst_page * SEQ_PAGE, f, delta, pages;
	int i, accounted, shrink = how == SEQ_MREMAP_RESIZE && new <= old;
	long ret;

	if (dst_page >= 0 && dst < s + old && s < dst + new)
		return -EINVAL;			/* check_mremap_params(): overlapping */
	if (dst_page >= 0 && new == old && (w->cfg->opts & PYVMA_SEQ_OPT_MULTI_MOVE))
		return sc_remap_move(w, s, old, dst, how == SEQ_MREMAP_DONTUNMAP);
	i = sc_at(w, s);
	if (i < 0)
		return -EFAULT;
	if (sc_sealed(w, s, s + 1))		/* check_prep_vma(): the VMA at s first */
		return -EPERM;
	i = sc_at(w, s);
	if (s + old > w->rows[i].end && !shrink)
		return -EFAULT;
	if (!shrink && dst_page >= 0 && sc_sealed(w, dst, dst + new))
		return -EPERM;
	i = sc_at(w, s);
	vma = w->rows[i].vma;
	f = w->rows[i].flags;
	if (how == SEQ_MREMAP_RESIZE) {
		if (new <= old) {
			if (new < old) {
				ret = SEQ_CALL(w, pyvma_munmap(w->mm, s + new, old - new));
				if (SEQ_BUGGED(w))
					return SC_BUG;
				if (ret < 0)
					return ret;
			}
			return s;
		}
		delta = new - old;
		if (f & (sc_f(w, SEQ_F_DONTEXPAND) | sc_f(w, SEQ_F_PFNMAP)))
			return -EFAULT;
		if (s + old != w->rows[i].end)
			return -ENOMEM;
		if (i + 1 < w->n && w->rows[i + 1].start < w->rows[i].end + delta)
			return -ENOMEM;		/* vma_expandable() fails, no MAYMOVE */
		pages = delta / SEQ_PAGE;
		accounted = !!(f & sc_cf(w, SEQ_C_ACCOUNT));
		if (accounted)
			pyvma_set_committed(pyvma_committed() + pages);
		vmi = pyvma_vmi_new(w->mm, w->rows[i].end);
		got = SEQ_CALL(w, pyvma_merge_extend(vmi, vma, delta));
		pyvma_vmi_free(vmi);
		if (SEQ_BUGGED(w))
			return SC_BUG;
		if (!got) {
			if (accounted)
				pyvma_set_committed(pyvma_committed() - pages);
			return -ENOMEM;
		}
		f = sc_flags(got);
		pyvma_account_range(w->mm, f, pages);
		if (f & sc_f(w, SEQ_F_LOCKED))
			sc_locked_add(w, pages);
		return s;
	}
	if (how == SEQ_MREMAP_DONTUNMAP &&
	    (new != old || (f & (sc_f(w, SEQ_F_DONTEXPAND) | sc_f(w, SEQ_F_PFNMAP)))))
		return -EINVAL;
	if (dst < s + old && s < dst + new)
		return -EINVAL;			/* overlapping source and target */
	ret = SEQ_CALL(w, pyvma_munmap(w->mm, dst, new));	/* MREMAP_FIXED */
	if (SEQ_BUGGED(w))
		return SC_BUG;
	if (ret < 0)
		return ret;
	if (old > new) {
		ret = SEQ_CALL(w, pyvma_munmap(w->mm, s + new, old - new));
		if (SEQ_BUGGED(w))
			return SC_BUG;
		if (ret < 0)
			return ret;
		old = new;
	}
	i = sc_at(w, s);
	if (i < 0)
		return -EFAULT;
	if (new > old)
		return -ENOMEM;			/* a move that grows: not expressed */
	return sc_move_vma(w, w->rows[i].vma, s, old, dst, how == SEQ_MREMAP_DONTUNMAP);
}

/* ---- one caller operation ----------------------------------------------------- */

/* callers.apply_caller() of a valid caller operation: *r (an address in pages) */
static void seq_apply_caller(struct seq_world *w, const struct pyvma_seq_op *op,
			     struct seq_ret *r)
{
	/* callers_spec.PROT's values, in its order */
	static const int prot[] = { 0, 1, 2, 3, 5, 7 };
	unsigned long s = op->a * SEQ_PAGE, e = op->b * SEQ_PAGE;
	long ret = 0;

	r->kind = PYVMA_SEQ_RET_INT;
	switch (op->kind) {
	case PYVMA_SEQ_MREMAP:
		ret = sc_mremap(w, s, e - s, op->c * SEQ_PAGE, (op->extra >> 2) - 1,
				op->extra & 3);
		if (ret >= 0 && !w->bugged)
			ret /= (long)SEQ_PAGE;
		break;
	case PYVMA_SEQ_MPROTECT_PROT: {
		struct seq_caller c = { .prot = prot[op->extra], .s = s, .e = e };

		ret = sc_loop(w, &c, s, e, sc_mprotect_new, sc_mprotect_after, 0);
		break;
	}
	case PYVMA_SEQ_MADVISE:
		ret = sc_madvise(w, s, e, op->extra);
		break;
	case PYVMA_SEQ_MLOCK:
		ret = sc_mlock(w, s, e, op->extra);
		break;
	case PYVMA_SEQ_MLOCKALL:
		ret = sc_mlockall(w, op->extra);
		break;
	case PYVMA_SEQ_MSEAL:
		ret = sc_mseal(w, s, e);
		break;
	}
	r->ret = w->bugged ? 0 : ret;
}
