// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma objects: the lifetimes and accessors of what Python holds — mm_structs,
 * VMAs, anon_vmas (and their anon_vma_chain entries) and files.  Calls go down
 * to the hooks (which allocate what kernel code allocates too) and the runtime;
 * see pyvma_internal.h for the layer order.
 */
#include "pyvma_internal.h"

/* built with CONFIG_DEBUG_MAPLE_TREE in the maple-shim object */
void mt_validate(struct maple_tree *mt);

/* ---- mm_struct ------------------------------------------------------------ */

/* The mms not yet destroyed: their VMAs keep anon_vmas and files alive. */
static struct mm_struct **pyvma_mms;
static int pyvma_nmms, pyvma_mms_cap;

static int pyvma_mms_add(struct mm_struct *mm)
{
	if (pyvma_nmms == pyvma_mms_cap) {
		int cap = pyvma_mms_cap ? 2 * pyvma_mms_cap : 16;
		struct mm_struct **mms = realloc(pyvma_mms, cap * sizeof(*mms));

		if (!mms)
			return -ENOMEM;
		pyvma_mms = mms;
		pyvma_mms_cap = cap;
	}
	pyvma_mms[pyvma_nmms++] = mm;
	return 0;
}

static void pyvma_mms_remove(struct mm_struct *mm)
{
	int i;

	for (i = 0; i < pyvma_nmms; i++) {
		if (pyvma_mms[i] == mm) {
			pyvma_mms[i] = pyvma_mms[--pyvma_nmms];
			return;
		}
	}
}

struct mm_struct *pyvma_mm_new(void)
{
	struct mm_struct *mm;

	pyvma_once();
	mm = calloc(1, sizeof(*mm));
	if (!mm)
		return NULL;
	if (pyvma_mms_add(mm)) {
		free(mm);
		return NULL;
	}
	mt_init_flags(&mm->mm_mt, MM_MT_FLAGS);
	mm->pyvma_lock_session = 1;
	init_rwsem(&mm->mmap_lock);
	pyvma_current_task.mm = mm;
	return mm;
}

/* Free every VMA, empty the tree, zero map_count; the mm stays usable. */
int pyvma_mm_cleanup(struct mm_struct *mm)
{
	struct vm_area_struct *vma;
	int count = 0;
	PYVMA_ENTER(PYVMA_EBUG);
	VMA_ITERATOR(vmi, mm, 0);

	for_each_vma(vmi, vma) {
		vm_area_free(vma);
		count++;
	}
	mtree_destroy(&mm->mm_mt);
	mt_init_flags(&mm->mm_mt, MM_MT_FLAGS);
	mm->map_count = 0;
	pyvma_avcs_free(mm);
	PYVMA_LEAVE();
	return count;
}

int pyvma_mm_destroy(struct mm_struct *mm)
{
	int count = pyvma_mm_cleanup(mm);

	if (count < 0)
		return count;
	mtree_destroy(&mm->mm_mt);
	if (pyvma_current_task.mm == mm)
		pyvma_current_task.mm = NULL;
	pyvma_mms_remove(mm);
	free(mm);
	return count;
}

/* Each operation Python asks for is one mmap write-lock session (hooks.c). */
void pyvma_mm_begin_op(struct mm_struct *mm)
{
	if (++mm->pyvma_lock_session == UINT_MAX)
		mm->pyvma_lock_session = 1;
	pyvma_current_task.mm = mm;
}

int pyvma_mm_map_count(struct mm_struct *mm)
{
	return mm->map_count;
}

void pyvma_mm_set_current(struct mm_struct *mm)
{
	pyvma_current_task.mm = mm;
}

int pyvma_mm_counters(struct mm_struct *mm, unsigned long *out, int max)
{
	unsigned long v[PYVMA_MM_NCOUNTERS] = {
		[PYVMA_MM_TOTAL_VM] = mm->total_vm,
		[PYVMA_MM_LOCKED_VM] = mm->locked_vm,
		[PYVMA_MM_PINNED_VM] = mm->pinned_vm,
		[PYVMA_MM_DATA_VM] = mm->data_vm,
		[PYVMA_MM_EXEC_VM] = mm->exec_vm,
		[PYVMA_MM_STACK_VM] = mm->stack_vm,
		[PYVMA_MM_HIWATER_VM] = mm->hiwater_vm,
	};
	int i;

	for (i = 0; i < max && i < PYVMA_MM_NCOUNTERS; i++)
		out[i] = v[i];
	return PYVMA_MM_NCOUNTERS;
}

int pyvma_mm_set_counter(struct mm_struct *mm, int which, unsigned long value)
{
	switch (which) {
	case PYVMA_MM_TOTAL_VM: mm->total_vm = value; return 0;
	case PYVMA_MM_LOCKED_VM: mm->locked_vm = value; return 0;
	case PYVMA_MM_PINNED_VM: mm->pinned_vm = value; return 0;
	case PYVMA_MM_DATA_VM: mm->data_vm = value; return 0;
	case PYVMA_MM_EXEC_VM: mm->exec_vm = value; return 0;
	case PYVMA_MM_STACK_VM: mm->stack_vm = value; return 0;
	case PYVMA_MM_HIWATER_VM: mm->hiwater_vm = value; return 0;
	}
	return -1;
}

/* An mmap()ed range is accounted to the mm by the tree's own vm_stat_account()
 * (taken from mm/mmap.c): map() + account() is what mmap_region() does. */
void pyvma_vma_account(struct mm_struct *mm, struct vm_area_struct *vma)
{
	vm_stat_account(mm, vma->vm_flags, vma_pages(vma));
}

void pyvma_account_range(struct mm_struct *mm, unsigned long flags, long npages)
{
	vm_stat_account(mm, flags, npages);
}

int pyvma_mm_set_mdwe(struct mm_struct *mm, int on)
{
#ifdef MMF_HAS_MDWE
	if (on)
		set_bit(MMF_HAS_MDWE, (unsigned long *)&mm->flags);
	else
		clear_bit(MMF_HAS_MDWE, (unsigned long *)&mm->flags);
	return 0;
#else
	return -1;
#endif
}

void pyvma_mm_set_def_flags(struct mm_struct *mm, unsigned long flags)
{
	mm->def_flags = flags;
#ifdef PYVMA_HAS_TYPE_vma_flags_t
	memset(&mm->def_vma_flags, 0, sizeof(mm->def_vma_flags));
	memcpy(&mm->def_vma_flags, &flags, sizeof(flags));
#endif
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

/* ---- VMAs ------------------------------------------------------------------ */

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
		vm_flags_init(vma, flags);
	}
	PYVMA_LEAVE();
	return vma;
}

void pyvma_vma_free(struct vm_area_struct *vma)
{
	vm_area_free(vma);
}

void pyvma_vma_info(struct vm_area_struct *vma, struct pyvma_vma_info *out)
{
	pyvma_fill(vma, out);
}

void pyvma_vma_reset_write(struct vm_area_struct *vma)
{
	vma->vm_lock_seq = UINT_MAX;
}

void pyvma_vma_set_flags(struct vm_area_struct *vma, unsigned long flags)
{
	vm_flags_init(vma, flags);
}

void pyvma_vma_set_anon_vma(struct vm_area_struct *vma, struct anon_vma *av)
{
	vma->anon_vma = av;
}

void pyvma_vma_set_file(struct vm_area_struct *vma, struct file *file)
{
	vma->vm_file = file;
}

/* vm_ops: 0 = none (NULL), 1 = the harness default (no hooks), 2 = with ->close */
void pyvma_vma_set_vm_ops(struct vm_area_struct *vma, int which)
{
	vma->vm_ops = which == 0 ? NULL : which == 1 ? &pyvma_dummy_vm_ops : &pyvma_close_vm_ops;
}

/* 0: no vm_ops, 1: the harness default, 2: the harness ops with ->close, 3: other */
int pyvma_vma_vm_ops(struct vm_area_struct *vma)
{
	if (!vma->vm_ops)
		return 0;
	/* the harness's dummy ops, or a tree's own vma_dummy_vm_ops (vma_init() on
	 * trees with mm/vma_init.c): no callbacks either way */
	if (vma->vm_ops == &pyvma_dummy_vm_ops ||
	    !memcmp(vma->vm_ops, &pyvma_dummy_vm_ops, sizeof(pyvma_dummy_vm_ops)))
		return 1;
	if (vma->vm_ops == &pyvma_close_vm_ops)
		return 2;
	return 3;
}

int pyvma_vma_add_avc(struct vm_area_struct *vma, struct anon_vma *av)
{
	return pyvma_avc_link(vma, av);
}

int pyvma_vma_avc_count(struct vm_area_struct *vma)
{
	struct list_head *pos;
	int n = 0;

	list_for_each(pos, &vma->anon_vma_chain)
		n++;
	return n;
}

/* Whether the mm's tree maps the VMA's range to it. */
int pyvma_vma_attached(struct mm_struct *mm, struct vm_area_struct *vma)
{
	return mtree_load(&mm->mm_mt, vma->vm_start) == vma &&
	       mtree_load(&mm->mm_mt, vma->vm_end - 1) == vma;
}

/* The anonymous page offset where the tree keeps one apart from vm_pgoff; -1
 * elsewhere. */
int pyvma_vma_set_anon_pgoff(struct vm_area_struct *vma, unsigned long pgoff)
{
#ifdef PYVMA_HAS_FN_vma_set_anon_pgoff
	vma_set_anon_pgoff(vma, pgoff);
	return 0;
#else
	(void)vma; (void)pgoff;
	return -1;
#endif
}

void pyvma_vma_set_page_prot(struct vm_area_struct *vma, unsigned long prot)
{
	vma->vm_page_prot = __pgprot(prot);
}

int pyvma_vma_is_anonymous(struct vm_area_struct *vma)
{
	return vma_is_anonymous(vma);
}

void *pyvma_vma_private(struct vm_area_struct *vma)
{
	return vma->vm_private_data;
}

/* ---- anon_vmas ----------------------------------------------------------------- */

/* An anon_vma for Python: pinned once (AnonVma drops the pin when it goes). */
struct anon_vma *pyvma_anon_vma_new(void)
{
	struct anon_vma *av = pyvma_anon_vma_alloc();

	if (av)
		pyvma_obj_pin(av, 1);
	return av;
}

static void pyvma_anon_vma_free(struct anon_vma *av)
{
	pyvma_anon_forget(av);
	free(av);
}

int pyvma_anon_vma_locked(struct anon_vma *av, int which)
{
	if (which == 0)
		return pyvma_lock_held(&av->root->rwsem) >= 0;
	/* mm_take_all_locks()' mark: bit 0 of the root's rb_root */
	return test_bit(0, (unsigned long *)&av->root->rb_root.rb_root.rb_node);
}

/* ---- files ------------------------------------------------------------------------ */

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
	if (pyvma_obj_add(f, PYVMA_OBJ_FILE, 1)) {	/* pinned for Python's File */
		free(f); free(m); free(i);
		return NULL;
	}
	return f;
}

static void pyvma_file_free(struct file *f)
{
	free(f->pyvma_beh);
	free(f->f_inode);
	free(f->f_mapping);
	free(f);
}

/* ---- the objects' lifetimes ------------------------------------------------ */

static void pyvma_obj_mark(const void *p)
{
	int i;

	if (p && (i = pyvma_obj_find(p)) >= 0)
		pyvma_objs[i].mark = 1;
}

/*
 * Free every anon_vma and file that Python does not pin and that no VMA of a live
 * mm refers to (vm_file, anon_vma and its root, the anon_vmas of its chain) and
 * whose rwsem is not held; the harness hooks unlink_anon_vmas() and fput(), so
 * kernel code frees neither.
 * Returns how many were freed.
 */
int pyvma_objects_sweep(void)
{
	struct vm_area_struct *vma;
	struct anon_vma_chain *avc;
	int i, freed = 0;

	for (i = 0; i < pyvma_nobjs; i++)
		pyvma_objs[i].mark = pyvma_objs[i].pins > 0;
	for (i = 0; i < pyvma_nmms; i++) {
		VMA_ITERATOR(vmi, pyvma_mms[i], 0);

		for_each_vma(vmi, vma) {
			pyvma_obj_mark(vma->vm_file);
			if (vma->anon_vma) {
				pyvma_obj_mark(vma->anon_vma);
				pyvma_obj_mark(vma->anon_vma->root);
			}
			list_for_each_entry(avc, &vma->anon_vma_chain, same_vma)
				pyvma_obj_mark(avc->anon_vma);
		}
	}
	for (i = pyvma_nobjs - 1; i >= 0; i--) {
		struct pyvma_obj o = pyvma_objs[i];

		if (o.mark)
			continue;
		/* a rwsem kernel code left held (after a BUG) stays: a new object at
		 * its address would look locked */
		if (pyvma_lock_held(o.kind == PYVMA_OBJ_ANON_VMA ?
				    &((struct anon_vma *)o.p)->rwsem :
				    &((struct file *)o.p)->f_mapping->i_mmap_rwsem) >= 0)
			continue;
		pyvma_obj_remove(i);
		if (o.kind == PYVMA_OBJ_ANON_VMA)
			pyvma_anon_vma_free(o.p);
		else
			pyvma_file_free(o.p);
		freed++;
	}
	return freed;
}
