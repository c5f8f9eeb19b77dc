// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma glue, core: WARN/BUG records, forced failures, the hooks the generated
 * stubs call, and the Python-facing API over mm_structs, VMAs, anon_vmas, files
 * and the one-shot merge / expand / shrink / split / munmap entry points.  In the
 * glue's second translation unit (glue_internal.h): what needs mm/vma.c's static
 * functions is in glue.c.
 *
 * Every entry point Python calls is wrapped in PYVMA_ENTER/PYVMA_LEAVE: a BUG in
 * kernel code longjmps back here and the call returns PYVMA_EBUG.
 */
#include "glue_internal.h"

const struct vm_operations_struct pyvma_dummy_vm_ops;

/* built with CONFIG_DEBUG_MAPLE_TREE in the maple-shim object */
void mt_validate(struct maple_tree *mt);

struct task_struct pyvma_current_task = { .comm = "pyvma" };

/* ---- WARN / BUG records ------------------------------------------------ */

#define PYVMA_MAX_SITES 256
static struct pyvma_site pyvma_warns[PYVMA_MAX_SITES];
static int pyvma_nwarn;
static struct pyvma_site pyvma_last_bug;
static int pyvma_nbug;
jmp_buf *pyvma_jb;

/* With an isolated test, WARNs also go straight to a file descriptor, so that
 * the parent still has them if kernel code then crashes the child. */
static int pyvma_warn_fd = -1;

void pyvma_set_warn_fd(int fd)
{
	pyvma_warn_fd = fd;
}

void pyvma_warn(const char *file, int line, const char *cond)
{
	if (pyvma_warn_fd >= 0)
		dprintf(pyvma_warn_fd, "WARN %s:%d: %s\n", file, line, cond);
	if (pyvma_nwarn < PYVMA_MAX_SITES) {
		pyvma_warns[pyvma_nwarn].file = file;
		pyvma_warns[pyvma_nwarn].line = line;
		pyvma_warns[pyvma_nwarn].cond = cond;
	}
	pyvma_nwarn++;
}

void pyvma_bug(const char *file, int line, const char *cond)
{
	if (pyvma_warn_fd >= 0)
		dprintf(pyvma_warn_fd, "BUG %s:%d: %s\n", file, line, cond);
	pyvma_last_bug.file = file;
	pyvma_last_bug.line = line;
	pyvma_last_bug.cond = cond;
	pyvma_nbug++;
	if (pyvma_jb)
		longjmp(*pyvma_jb, 1);
	fprintf(stderr, "pyvma: BUG at %s:%d: %s (no entry point to return to)\n", file, line, cond);
	abort();
}

int pyvma_warn_count(void) { return pyvma_nwarn; }
int pyvma_warn_get(int i, struct pyvma_site *out)
{
	if (i < 0 || i >= pyvma_nwarn || i >= PYVMA_MAX_SITES)
		return -1;
	*out = pyvma_warns[i];
	return 0;
}
void pyvma_warn_clear(void) { pyvma_nwarn = 0; }
int pyvma_bug_get(struct pyvma_site *out) { *out = pyvma_last_bug; return pyvma_nbug; }
void pyvma_bug_clear(void) { pyvma_nbug = 0; }

/* ---- forced failures ---------------------------------------------------- */

/*
 * One entry per kernel service a test can make fail (PYVMA_FAULT_*): once armed,
 * the first @skip calls go through, then @times calls fail (0: every call until
 * disarmed).  Calls and failures are counted whether armed or not.
 */
static struct { int armed; long skip, times, calls, hits; } pyvma_faults[PYVMA_NFAULTS];

int pyvma_fault(int site)
{
	typeof(&pyvma_faults[0]) f = &pyvma_faults[site];

	f->calls++;
	if (!f->armed)
		return 0;
	if (f->skip > 0) {
		f->skip--;
		return 0;
	}
	f->hits++;
	if (f->times > 0 && --f->times == 0)
		f->armed = 0;
	return 1;
}

void pyvma_fault_set(int site, int armed, long skip, long times)
{
	if (site < 0 || site >= PYVMA_NFAULTS)
		return;
	pyvma_faults[site].armed = armed;
	pyvma_faults[site].skip = skip;
	pyvma_faults[site].times = times;
}

long pyvma_fault_stat(int site, int which)
{
	if (site < 0 || site >= PYVMA_NFAULTS)
		return -1;
	return which ? pyvma_faults[site].hits : pyvma_faults[site].calls;
}

void pyvma_fault_reset(void)
{
	memset(pyvma_faults, 0, sizeof(pyvma_faults));
}

/* ---- hooks the generated stubs call ----------------------------------- */

/* Per-anon_vma accounting lives beside the kernel's struct (which lacks it). */
struct pyvma_anon_rec pyvma_anon[PYVMA_MAX_ANON];
static int pyvma_nanon;
static int pyvma_write_locks;

int pyvma_anon_slot(struct anon_vma *av)
{
	int i;

	for (i = 0; i < pyvma_nanon; i++)
		if (pyvma_anon[i].av == av)
			return i;
	if (pyvma_nanon == PYVMA_MAX_ANON)
		return -1;
	pyvma_anon[pyvma_nanon].av = av;
	pyvma_anon[pyvma_nanon].clones = pyvma_anon[pyvma_nanon].unlinks = 0;
	return pyvma_nanon++;
}

/*
 * Write locks: each operation Python asks for is one mmap write-lock session
 * (pyvma_mm_begin_op() opens it).  vma_start_write() marks the VMA with the
 * session, as the kernel marks it with mm->mm_lock_seq; a lock from an earlier
 * session no longer counts, as after mmap_write_unlock().
 */
void pyvma_hook_start_write(struct vm_area_struct *vma)
{
	vma->vm_lock_seq = vma->vm_mm->pyvma_lock_session;
	pyvma_write_locks++;
}

void pyvma_hook_assert_write_locked(struct vm_area_struct *vma)
{
	WARN_ON(vma->vm_lock_seq != vma->vm_mm->pyvma_lock_session);
}

void pyvma_mm_begin_op(struct mm_struct *mm)
{
	if (++mm->pyvma_lock_session == UINT_MAX)
		mm->pyvma_lock_session = 1;
	pyvma_current_task.mm = mm;
}

int pyvma_hook_anon_vma_clone(struct vm_area_struct *dst, struct vm_area_struct *src)
{
	int slot;

	if (pyvma_fault(PYVMA_FAULT_ANON_VMA_CLONE)) {
		/* as the real anon_vma_clone() leaves it when it fails */
		dst->anon_vma = NULL;
		return -ENOMEM;
	}
	dst->anon_vma = src->anon_vma;
	if (src->anon_vma && (slot = pyvma_anon_slot(src->anon_vma)) >= 0)
		pyvma_anon[slot].clones++;
	return 0;
}

void pyvma_hook_unlink_anon_vmas(struct vm_area_struct *vma)
{
	int slot;

	if (vma->anon_vma && (slot = pyvma_anon_slot(vma->anon_vma)) >= 0)
		pyvma_anon[slot].unlinks++;
}

struct vm_area_struct *pyvma_hook_vm_area_alloc(struct mm_struct *mm)
{
	struct vm_area_struct *vma;

	if (pyvma_fault(PYVMA_FAULT_VMA_ALLOC))
		return NULL;
	vma = calloc(1, sizeof(*vma));
	if (!vma)
		return NULL;
	vma->vm_mm = mm;
	vma->vm_ops = &pyvma_dummy_vm_ops;
	INIT_LIST_HEAD(&vma->anon_vma_chain);
	vma->vm_lock_seq = UINT_MAX;
	return vma;
}

struct vm_area_struct *pyvma_hook_vm_area_dup(struct vm_area_struct *orig)
{
	struct vm_area_struct *vma;

	if (pyvma_fault(PYVMA_FAULT_VMA_ALLOC))
		return NULL;
	vma = malloc(sizeof(*vma));
	if (!vma)
		return NULL;
	memcpy(vma, orig, sizeof(*vma));
	INIT_LIST_HEAD(&vma->anon_vma_chain);
	return vma;
}

void pyvma_hook_vm_area_free(struct vm_area_struct *vma)
{
	free(vma);
}

/* ---- the Python-facing API -------------------------------------------- */

void pyvma_once(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	pyvma_init_vars();
	maple_tree_init();
#ifdef PYVMA_HAS_SOURCE_vma_init_c
	vma_state_init();
#endif
}

struct mm_struct *pyvma_mm_new(void)
{
	struct mm_struct *mm;

	pyvma_once();
	mm = calloc(1, sizeof(*mm));
	if (!mm)
		return NULL;
	mt_init_flags(&mm->mm_mt, MM_MT_FLAGS);
	mm->pyvma_lock_session = 1;
	init_rwsem(&mm->mmap_lock);
	pyvma_current_task.mm = mm;
	return mm;
}

void pyvma_free_vma(struct vm_area_struct *vma)
{
	vm_area_free(vma);
}

int pyvma_mm_destroy(struct mm_struct *mm)
{
	int count = pyvma_mm_cleanup(mm);

	if (count < 0)
		return count;
	mtree_destroy(&mm->mm_mt);
	if (pyvma_current_task.mm == mm)
		pyvma_current_task.mm = NULL;
	free(mm);
	return count;
}

int pyvma_mm_map_count(struct mm_struct *mm)
{
	return mm->map_count;
}

void pyvma_mm_set_current(struct mm_struct *mm)
{
	pyvma_current_task.mm = mm;
}

static void pyvma_fill(struct vm_area_struct *vma, struct pyvma_vma_info *out)
{
	out->vma = vma;
	out->start = vma->vm_start;
	out->end = vma->vm_end;
	out->pgoff = vma->vm_pgoff;
	out->flags = vma->vm_flags;
	out->anon_vma = vma->anon_vma;
	out->file = vma->vm_file;
	out->vm_ops = (void *)vma->vm_ops;
	out->write_locked = vma->vm_lock_seq == vma->vm_mm->pyvma_lock_session;
#ifdef PYVMA_VMA_HAS___vm_anon_pgoff_lo
	out->anon_pgoff = vma_start_anon_pgoff(vma);
#else
	out->anon_pgoff = vma->vm_pgoff;
#endif
}

void pyvma_vma_info(struct vm_area_struct *vma, struct pyvma_vma_info *out)
{
	pyvma_fill(vma, out);
}

void pyvma_vma_reset_write(struct vm_area_struct *vma)
{
	vma->vm_lock_seq = UINT_MAX;
}

int pyvma_mm_walk(struct mm_struct *mm, struct pyvma_vma_info *out, int max)
{
	struct vm_area_struct *vma;
	int n = 0;
	VMA_ITERATOR(vmi, mm, 0);

	for_each_vma(vmi, vma) {
		if (n < max)
			pyvma_fill(vma, &out[n]);
		n++;
	}
	return n;
}

/* Check the maple tree against the VMA walk; 0 when consistent. */
int pyvma_mm_check(struct mm_struct *mm, char *msg, int len)
{
	struct vm_area_struct *vma;
	unsigned long prev_end = 0;
	int n = 0;
	PYVMA_ENTER(PYVMA_EBUG);
	VMA_ITERATOR(vmi, mm, 0);

	msg[0] = '\0';
	mt_validate(&mm->mm_mt);
	for_each_vma(vmi, vma) {
		if (vma->vm_start >= vma->vm_end) {
			snprintf(msg, len, "empty or inverted VMA %#lx-%#lx", vma->vm_start, vma->vm_end);
			PYVMA_LEAVE();
			return 1;
		}
		if (vma->vm_start < prev_end) {
			snprintf(msg, len, "VMA %#lx-%#lx overlaps the previous one ending %#lx",
				 vma->vm_start, vma->vm_end, prev_end);
			PYVMA_LEAVE();
			return 2;
		}
		if (mtree_load(&mm->mm_mt, vma->vm_start) != vma ||
		    mtree_load(&mm->mm_mt, vma->vm_end - 1) != vma) {
			snprintf(msg, len, "maple tree does not map %#lx-%#lx to its VMA",
				 vma->vm_start, vma->vm_end);
			PYVMA_LEAVE();
			return 3;
		}
		if (vma->vm_mm != mm) {
			snprintf(msg, len, "VMA %#lx-%#lx has vm_mm of another mm", vma->vm_start, vma->vm_end);
			PYVMA_LEAVE();
			return 4;
		}
		prev_end = vma->vm_end;
		n++;
	}
	if (n != mm->map_count) {
		snprintf(msg, len, "map_count is %d but the tree holds %d VMAs", mm->map_count, n);
		PYVMA_LEAVE();
		return 5;
	}
	PYVMA_LEAVE();
	return 0;
}

static void pyvma_set_vma_flags(struct vm_area_struct *vma, unsigned long flags)
{
	vm_flags_init(vma, flags);
}

void pyvma_vma_set_flags(struct vm_area_struct *vma, unsigned long flags)
{
	pyvma_set_vma_flags(vma, flags);
}

struct vm_area_struct *pyvma_vma_alloc(struct mm_struct *mm, unsigned long start,
				       unsigned long end, unsigned long pgoff, unsigned long flags)
{
	struct vm_area_struct *vma;
	PYVMA_ENTER(NULL);

	vma = vm_area_alloc(mm);
	if (vma) {
		vma->vm_start = start;
		vma->vm_end = end;
		vma->vm_pgoff = pgoff;
#ifdef PYVMA_HAS_FN_vma_set_anon_pgoff
		vma_set_anon_pgoff(vma, start >> PAGE_SHIFT);
#endif
		pyvma_set_vma_flags(vma, flags);
	}
	PYVMA_LEAVE();
	return vma;
}

void pyvma_vma_free(struct vm_area_struct *vma)
{
	pyvma_free_vma(vma);
}

void pyvma_vma_set_anon_vma(struct vm_area_struct *vma, struct anon_vma *av)
{
	vma->anon_vma = av;
}

void pyvma_vma_set_file(struct vm_area_struct *vma, struct file *file)
{
	vma->vm_file = file;
}

int pyvma_closes;

void pyvma_dummy_close(struct vm_area_struct *vma)
{
	pyvma_closes++;
}

const struct vm_operations_struct pyvma_close_vm_ops = {
	.close = pyvma_dummy_close,
};

/* vm_ops: 0 = none (NULL), 1 = the harness default (no hooks), 2 = with ->close */
void pyvma_vma_set_vm_ops(struct vm_area_struct *vma, int which)
{
	vma->vm_ops = which == 0 ? NULL : which == 1 ? &pyvma_dummy_vm_ops : &pyvma_close_vm_ops;
}

int pyvma_close_count(void) { return pyvma_closes; }

/* One anon_vma_chain entry linking @vma to @av (upstream tests give each VMA one). */
#define PYVMA_MAX_AVC 1024
static struct { struct anon_vma_chain *avc; struct mm_struct *mm; } pyvma_avcs[PYVMA_MAX_AVC];

int pyvma_vma_add_avc(struct vm_area_struct *vma, struct anon_vma *av)
{
	int i;

	for (i = 0; i < PYVMA_MAX_AVC; i++) {
		if (!pyvma_avcs[i].avc) {
			struct anon_vma_chain *avc = calloc(1, sizeof(*avc));

			if (!avc)
				return -ENOMEM;
			avc->vma = vma;
			avc->anon_vma = av;
			list_add(&avc->same_vma, &vma->anon_vma_chain);
			pyvma_avcs[i].avc = avc;
			pyvma_avcs[i].mm = vma->vm_mm;
			return 0;
		}
	}
	return -ENOSPC;
}

void pyvma_free_avcs(struct mm_struct *mm)
{
	int i;

	for (i = 0; i < PYVMA_MAX_AVC; i++) {
		if (pyvma_avcs[i].avc && pyvma_avcs[i].mm == mm) {
			free(pyvma_avcs[i].avc);
			pyvma_avcs[i].avc = NULL;
		}
	}
}

struct anon_vma *pyvma_anon_vma_new(void)
{
	struct anon_vma *av = calloc(1, sizeof(*av));

	if (av)
		av->root = av;
	return av;
}

void pyvma_anon_vma_free(struct anon_vma *av)
{
	free(av);
}

int pyvma_anon_vma_stats(struct anon_vma *av, int *clones, int *unlinks)
{
	int slot = pyvma_anon_slot(av);

	if (slot < 0)
		return -1;
	*clones = pyvma_anon[slot].clones;
	*unlinks = pyvma_anon[slot].unlinks;
	return 0;
}

void pyvma_anon_reset(void)
{
	pyvma_nanon = 0;
}

struct file *pyvma_file_new(void)
{
	struct file *f = calloc(1, sizeof(*f));
	struct address_space *m = calloc(1, sizeof(*m));
	struct inode *i = calloc(1, sizeof(*i));

	if (!f || !m || !i) {
		free(f); free(m); free(i);
		return NULL;
	}
	i->i_mapping = m;
	m->host = i;
	init_rwsem(&m->i_mmap_rwsem);
	f->f_mapping = m;
	f->f_inode = i;
	f->f_op = &f->pyvma_fops;	/* no ->mmap / ->mmap_prepare until a test sets them */
	return f;
}

void pyvma_file_free(struct file *f)
{
	free(f->pyvma_beh);
	free(f->f_inode);
	free(f->f_mapping);
	free(f);
}

void pyvma_set_fail_clone(int fail) { pyvma_fault_set(PYVMA_FAULT_ANON_VMA_CLONE, fail, 0, 0); }
int pyvma_write_lock_count(void) { return pyvma_write_locks; }

/* vmg: the merge request, filled field by field whatever the tree calls them. */
void pyvma_vmg_init(struct vma_merge_struct *vmg, struct mm_struct *mm,
		    struct vma_iterator *vmi, unsigned long start, unsigned long end,
		    unsigned long pgoff, unsigned long flags)
{
	memset(vmg, 0, sizeof(*vmg));
	vmg->mm = mm;
	vmg->vmi = vmi;
	vmg->start = start;
	vmg->end = end;
	vmg->pgoff = pgoff;
#ifdef PYVMA_VMG_HAS_anon_pgoff
	vmg->anon_pgoff = start >> PAGE_SHIFT;
#endif
#ifdef PYVMA_VMG_HAS_vm_flags
	vmg->vm_flags = flags;
#else
	vmg->flags = flags;
#endif
	vmg->state = VMA_MERGE_START;
}

int pyvma_state(struct vma_merge_struct *vmg)
{
	switch (vmg->state) {
	case VMA_MERGE_START: return PYVMA_MERGE_START;
	case VMA_MERGE_ERROR_NOMEM: return PYVMA_MERGE_ERROR_NOMEM;
	case VMA_MERGE_NOMERGE: return PYVMA_MERGE_NOMERGE;
	case VMA_MERGE_SUCCESS: return PYVMA_MERGE_SUCCESS;
	}
	return -1;
}

/* vma_merge_new_range() on [start, end), as mmap would ask for it. */
struct vm_area_struct *pyvma_merge_new(struct mm_struct *mm, unsigned long start,
				       unsigned long end, unsigned long pgoff,
				       unsigned long flags, struct anon_vma *av,
				       struct file *file, int *state)
{
	struct vma_merge_struct vmg;
	struct vm_area_struct *vma;
	PYVMA_ENTER(NULL);
	VMA_ITERATOR(vmi, mm, start);

	pyvma_vmg_init(&vmg, mm, &vmi, start, end, pgoff, flags);
	vmg.anon_vma = av;
	vmg.file = file;
	vmg.next = vma_next(&vmi);
	vmg.prev = vma_prev(&vmi);
	/* as mmap_region() leaves it: the iterator at the start of the gap */
	vma_iter_set(&vmi, start);
	vma = vma_merge_new_range(&vmg);
	*state = pyvma_state(&vmg);
	PYVMA_LEAVE();
	return vma;
}

/* vma_expand(): @target grows to [start, end), absorbing @next when it ends there. */
int pyvma_expand(struct mm_struct *mm, struct vm_area_struct *target,
		 struct vm_area_struct *next, unsigned long start, unsigned long end,
		 unsigned long pgoff, int *state)
{
	struct vma_merge_struct vmg;
	int err;
	PYVMA_ENTER(PYVMA_EBUG);
	VMA_ITERATOR(vmi, mm, start);

	pyvma_vmg_init(&vmg, mm, &vmi, start, end, pgoff, target->vm_flags);
	PYVMA_VMG_MIDDLE(&vmg) = target;
#ifdef PYVMA_VMG_HAS_target
	vmg.target = target;
#endif
	vmg.next = next;
	vmg.anon_vma = target->anon_vma;
	vmg.file = target->vm_file;
	vma_iter_set(&vmi, start);
	err = vma_expand(&vmg);
	*state = pyvma_state(&vmg);
	PYVMA_LEAVE();
	return err;
}

int pyvma_shrink(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long start,
		 unsigned long end, unsigned long pgoff)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);
	VMA_ITERATOR(vmi, mm, start);

#if PYVMA_NARGS_vma_shrink == 5
	err = vma_shrink(&vmi, vma, start, end, pgoff);
#else
	/* later trees only shrink the end */
	if (start != vma->vm_start || pgoff != vma->vm_pgoff)
		err = -EINVAL;
	else
		err = vma_shrink(&vmi, vma, end);
#endif
	PYVMA_LEAVE();
	return err;
}

int pyvma_munmap(struct mm_struct *mm, unsigned long start, unsigned long len)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);
	VMA_ITERATOR(vmi, mm, start);

	err = do_vmi_munmap(&vmi, mm, start, len, NULL, false);
	PYVMA_LEAVE();
	return err;
}

#include "glue_bench.c"
