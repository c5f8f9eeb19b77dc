// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma glue, second part: the operations the upstream-style suites need beyond
 * glue.c's one-shot helpers.  Compiled in the glue's second translation unit
 * (with glue_paths.c and glue_flags.c): it uses mm/vma.c's public functions and
 * glue.c's shared helpers (glue_internal.h); what needs vma.c's static functions
 * lives in glue.c.
 *
 *  - an iterator (struct vma_iterator) and a merge request (struct
 *    vma_merge_struct) that live across calls, fields set one by one, as a test
 *    that keeps one `vmg` for a whole scenario needs;
 *  - the modify / extend / copy / mmap entry points of the tree;
 *  - forced failures (maple tree preallocation) and harness hooks.
 *
 * Tree differences go through the generated PYVMA_* macros (pyvma_tables.h):
 * members present, parameter counts and types, helpers present.
 */
#include "glue_internal.h"

/* ---- hooks and forced failures ----------------------------------------- */

/* Every vma_iter_prealloc() of the tree's code comes here (manifest.LOCAL_WRAPS). */
int pyvma_hook_iter_prealloc(struct vma_iterator *vmi, struct vm_area_struct *vma)
{
	if (pyvma_fault(PYVMA_FAULT_PREALLOC))
		return -ENOMEM;
#ifdef PYVMA_HAS_FN_vma_iter_prealloc
	return (vma_iter_prealloc)(vmi, vma);
#else
	return -ENOSYS;
#endif
}

void pyvma_set_fail_prealloc(int fail) { pyvma_fault_set(PYVMA_FAULT_PREALLOC, fail, 0, 0); }

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

/* ---- mm and VMA accessors ---------------------------------------------- */

/* Free every VMA, empty the tree, zero map_count; the mm stays usable. */
int pyvma_mm_cleanup(struct mm_struct *mm)
{
	struct vm_area_struct *vma;
	int count = 0;
	PYVMA_ENTER(PYVMA_EBUG);
	VMA_ITERATOR(vmi, mm, 0);

	for_each_vma(vmi, vma) {
		pyvma_free_vma(vma);
		count++;
	}
	mtree_destroy(&mm->mm_mt);
	mt_init_flags(&mm->mm_mt, MM_MT_FLAGS);
	mm->map_count = 0;
	pyvma_free_avcs(mm);
	PYVMA_LEAVE();
	return count;
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

/* 0: no vm_ops, 1: the harness default, 2: the harness ops with ->close, 3: other */
int pyvma_vma_vm_ops(struct vm_area_struct *vma)
{
	if (!vma->vm_ops)
		return 0;
	if (vma->vm_ops == &pyvma_dummy_vm_ops)
		return 1;
	if (vma->vm_ops == &pyvma_close_vm_ops)
		return 2;
	return 3;
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

void pyvma_anon_vma_reset(struct anon_vma *av)
{
	int slot = pyvma_anon_slot(av);

	if (slot >= 0)
		pyvma_anon[slot].clones = pyvma_anon[slot].unlinks = 0;
}

/* ---- the iterator ------------------------------------------------------- */

struct vma_iterator *pyvma_vmi_new(struct mm_struct *mm, unsigned long addr)
{
	struct vma_iterator *vmi = calloc(1, sizeof(*vmi));
	VMA_ITERATOR(init, mm, addr);

	if (vmi)
		*vmi = init;
	return vmi;
}

void pyvma_vmi_free(struct vma_iterator *vmi)
{
	free(vmi);
}

void pyvma_vmi_set(struct vma_iterator *vmi, unsigned long addr)
{
	vma_iter_set(vmi, addr);
}

unsigned long pyvma_vmi_addr(struct vma_iterator *vmi)
{
	return vma_iter_addr(vmi);
}

/* 0: vma_iter_load, 1: vma_next, -1: vma_prev */
struct vm_area_struct *pyvma_vmi_step(struct vma_iterator *vmi, int how)
{
	struct vm_area_struct *vma;
	PYVMA_ENTER(NULL);

	vma = how > 0 ? vma_next(vmi) : how < 0 ? vma_prev(vmi) : vma_iter_load(vmi);
	PYVMA_LEAVE();
	return vma;
}

/* ---- the merge request -------------------------------------------------- */

struct vma_merge_struct *pyvma_vmg_new(struct mm_struct *mm, struct vma_iterator *vmi)
{
	struct vma_merge_struct *vmg = calloc(1, sizeof(*vmg));

	if (!vmg)
		return NULL;
	vmg->mm = mm;
	vmg->vmi = vmi;
	return vmg;
}

void pyvma_vmg_free(struct vma_merge_struct *vmg)
{
	free(vmg);
}

static void pyvma_vmg_put_flags(struct vma_merge_struct *vmg, unsigned long flags)
{
#ifdef PYVMA_VMG_HAS_vma_flags
	memset(&vmg->vma_flags, 0, sizeof(vmg->vma_flags));
#endif
#ifdef PYVMA_VMG_HAS_vm_flags
	vmg->vm_flags = flags;
#else
	vmg->flags = flags;
#endif
}

/* Set one member; -1 when the tree's vma_merge_struct has no such member. */
int pyvma_vmg_set(struct vma_merge_struct *vmg, int field, unsigned long value)
{
	void *ptr = (void *)value;

	switch (field) {
	case PYVMA_VMGF_PREV: vmg->prev = ptr; return 0;
	case PYVMA_VMGF_MIDDLE: PYVMA_VMG_MIDDLE(vmg) = ptr; return 0;
	case PYVMA_VMGF_NEXT: vmg->next = ptr; return 0;
	case PYVMA_VMGF_TARGET:
#ifdef PYVMA_VMG_HAS_target
		vmg->target = ptr;
		return 0;
#else
		return -1;
#endif
	case PYVMA_VMGF_START: vmg->start = value; return 0;
	case PYVMA_VMGF_END: vmg->end = value; return 0;
	case PYVMA_VMGF_PGOFF: vmg->pgoff = value; return 0;
	case PYVMA_VMGF_ANON_PGOFF:
#ifdef PYVMA_VMG_HAS_anon_pgoff
		vmg->anon_pgoff = value;
		return 0;
#else
		return -1;
#endif
	case PYVMA_VMGF_FLAGS: pyvma_vmg_put_flags(vmg, value); return 0;
	case PYVMA_VMGF_FILE: vmg->file = ptr; return 0;
	case PYVMA_VMGF_ANON_VMA: vmg->anon_vma = ptr; return 0;
	case PYVMA_VMGF_JUST_EXPAND:
#if defined(PYVMA_VMG_HAS_just_expand)
		vmg->just_expand = !!value;
		return 0;
#elif defined(PYVMA_VMG_HAS_merge_flags)
		if (value)
			vmg->merge_flags = (enum vma_merge_flags)(vmg->merge_flags | VMG_FLAG_JUST_EXPAND);
		else
			vmg->merge_flags = (enum vma_merge_flags)(vmg->merge_flags & ~VMG_FLAG_JUST_EXPAND);
		return 0;
#else
		return -1;
#endif
	case PYVMA_VMGF_MM: vmg->mm = ptr; return 0;
	case PYVMA_VMGF_STATE:
		vmg->state = value == PYVMA_MERGE_SUCCESS ? VMA_MERGE_SUCCESS :
			     value == PYVMA_MERGE_NOMERGE ? VMA_MERGE_NOMERGE :
			     value == PYVMA_MERGE_ERROR_NOMEM ? VMA_MERGE_ERROR_NOMEM :
			     VMA_MERGE_START;
		return 0;
	}
	return -1;
}

/* Read one member; -1 when the tree's vma_merge_struct has no such member. */
int pyvma_vmg_get(struct vma_merge_struct *vmg, int field, unsigned long *value)
{
	switch (field) {
	case PYVMA_VMGF_PREV: *value = (unsigned long)vmg->prev; return 0;
	case PYVMA_VMGF_MIDDLE: *value = (unsigned long)PYVMA_VMG_MIDDLE(vmg); return 0;
	case PYVMA_VMGF_NEXT: *value = (unsigned long)vmg->next; return 0;
	case PYVMA_VMGF_TARGET:
#ifdef PYVMA_VMG_HAS_target
		*value = (unsigned long)vmg->target;
		return 0;
#else
		return -1;
#endif
	case PYVMA_VMGF_START: *value = vmg->start; return 0;
	case PYVMA_VMGF_END: *value = vmg->end; return 0;
	case PYVMA_VMGF_PGOFF: *value = vmg->pgoff; return 0;
	case PYVMA_VMGF_ANON_PGOFF:
#ifdef PYVMA_VMG_HAS_anon_pgoff
		*value = vmg->anon_pgoff;
		return 0;
#else
		return -1;
#endif
	case PYVMA_VMGF_FLAGS:
#ifdef PYVMA_VMG_HAS_vm_flags
		*value = vmg->vm_flags;
#else
		*value = vmg->flags;
#endif
		return 0;
	case PYVMA_VMGF_FILE: *value = (unsigned long)vmg->file; return 0;
	case PYVMA_VMGF_ANON_VMA: *value = (unsigned long)vmg->anon_vma; return 0;
	case PYVMA_VMGF_JUST_EXPAND:
#if defined(PYVMA_VMG_HAS_just_expand)
		*value = vmg->just_expand;
		return 0;
#elif defined(PYVMA_VMG_HAS_merge_flags)
		*value = !!(vmg->merge_flags & VMG_FLAG_JUST_EXPAND);
		return 0;
#else
		return -1;
#endif
	case PYVMA_VMGF_MM: *value = (unsigned long)vmg->mm; return 0;
	case PYVMA_VMGF_STATE: *value = (unsigned long)pyvma_state(vmg); return 0;
	}
	return -1;
}

/*
 * A new range for the request: the iterator moves to @start, the VMAs named by
 * an earlier operation and the merge-internal bits are forgotten; anon_vma,
 * file and state are left as they are (a scenario sets those itself).
 */
void pyvma_vmg_set_range(struct vma_merge_struct *vmg, unsigned long start, unsigned long end,
			 unsigned long pgoff, unsigned long flags)
{
	vma_iter_set(vmg->vmi, start);
	vmg->prev = NULL;
	PYVMA_VMG_MIDDLE(vmg) = NULL;
	vmg->next = NULL;
#ifdef PYVMA_VMG_HAS_target
	vmg->target = NULL;
#endif
	vmg->start = start;
	vmg->end = end;
	vmg->pgoff = pgoff;
#ifdef PYVMA_VMG_HAS_anon_pgoff
	vmg->anon_pgoff = start >> PAGE_SHIFT;
#endif
	pyvma_vmg_put_flags(vmg, flags);
#ifdef PYVMA_VMG_HAS_just_expand
	vmg->just_expand = false;
#endif
#ifdef PYVMA_VMG_HAS___remove_middle
	vmg->__remove_middle = false;
#endif
#ifdef PYVMA_VMG_HAS___remove_next
	vmg->__remove_next = false;
#endif
#ifdef PYVMA_VMG_HAS___adjust_middle_start
	vmg->__adjust_middle_start = false;
#endif
#ifdef PYVMA_VMG_HAS___adjust_next_start
	vmg->__adjust_next_start = false;
#endif
}

/*
 * vma_merge_new_range(); with @lookup, prev and next are first taken from the
 * iterator around the range (what mmap does before it asks).
 */
struct vm_area_struct *pyvma_vmg_merge_new(struct vma_merge_struct *vmg, int lookup)
{
	struct vm_area_struct *vma;
	PYVMA_ENTER(NULL);

	if (lookup) {
		vmg->next = vma_next(vmg->vmi);
		vmg->prev = vma_prev(vmg->vmi);
		vma_iter_next_range(vmg->vmi);
	}
	vma = vma_merge_new_range(vmg);
	PYVMA_LEAVE();
	return vma;
}

int pyvma_vmg_expand(struct vma_merge_struct *vmg)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);

	err = vma_expand(vmg);
	PYVMA_LEAVE();
	return err;
}

/* ---- modify / extend / copy / mmap --------------------------------------- */

/* vma_modify_flags(); *flags is updated as the tree's function reports back. */
struct vm_area_struct *pyvma_modify_flags(struct vma_iterator *vmi, struct vm_area_struct *prev,
					  struct vm_area_struct *vma, unsigned long start,
					  unsigned long end, unsigned long *flags, long *err)
{
	struct vm_area_struct *ret;
	PYVMA_ENTER(NULL);

	*err = 0;
#ifdef PYVMA_PTYPE_vma_modify_flags_5_vma_flags_t_p
	{
		vma_flags_t f;

		memset(&f, 0, sizeof(f));
		memcpy(&f, flags, sizeof(*flags));
		ret = vma_modify_flags(vmi, prev, vma, start, end, &f);
		memcpy(flags, &f, sizeof(*flags));
	}
#else
	ret = vma_modify_flags(vmi, prev, vma, start, end, *flags);
#endif
	if (IS_ERR(ret)) {
		*err = PTR_ERR(ret);
		ret = NULL;
	}
	PYVMA_LEAVE();
	return ret;
}

static struct vm_area_struct *pyvma_err_ptr(struct vm_area_struct *ret, long *err)
{
	if (IS_ERR(ret)) {
		*err = PTR_ERR(ret);
		return NULL;
	}
	return ret;
}

/*
 * vma_modify_name(), or vma_modify_flags_name() (with @flags) on trees that name
 * and flag together; @name NULL for no name.  The anon_vma_name made for the call
 * is the harness's (never freed: the stubbed name helpers take no references).
 */
struct vm_area_struct *pyvma_modify_name(struct vma_iterator *vmi, struct vm_area_struct *prev,
					 struct vm_area_struct *vma, unsigned long start,
					 unsigned long end, unsigned long flags, const char *name,
					 long *err)
{
	struct anon_vma_name *anon_name = NULL;
	struct vm_area_struct *ret;
	PYVMA_ENTER(NULL);

	*err = 0;
	if (name) {
		size_t n = strlen(name) + 1;

		anon_name = calloc(1, sizeof(*anon_name) + n);
		if (!anon_name) {
			*err = -ENOMEM;
			PYVMA_LEAVE();
			return NULL;
		}
		memcpy(anon_name->name, name, n);
	}
#if defined(PYVMA_HAS_FN_vma_modify_name)
	(void)flags;
	ret = vma_modify_name(vmi, prev, vma, start, end, anon_name);
#elif defined(PYVMA_HAS_FN_vma_modify_flags_name)
	ret = vma_modify_flags_name(vmi, prev, vma, start, end, flags, anon_name);
#else
	(void)flags;
	ret = ERR_PTR(-ENOSYS);
#endif
	ret = pyvma_err_ptr(ret, err);
	PYVMA_LEAVE();
	return ret;
}

/* vma_modify_policy() with no mempolicy (the harness has none; mpol_equal() is true). */
struct vm_area_struct *pyvma_modify_policy(struct vma_iterator *vmi, struct vm_area_struct *prev,
					   struct vm_area_struct *vma, unsigned long start,
					   unsigned long end, long *err)
{
	struct vm_area_struct *ret;
	PYVMA_ENTER(NULL);

	*err = 0;
#ifdef PYVMA_HAS_FN_vma_modify_policy
	ret = vma_modify_policy(vmi, prev, vma, start, end, NULL);
#else
	ret = ERR_PTR(-ENOSYS);
#endif
	ret = pyvma_err_ptr(ret, err);
	PYVMA_LEAVE();
	return ret;
}

/* vma_modify_flags_uffd() with a null userfaultfd context. */
struct vm_area_struct *pyvma_modify_flags_uffd(struct vma_iterator *vmi,
					       struct vm_area_struct *prev,
					       struct vm_area_struct *vma, unsigned long start,
					       unsigned long end, unsigned long *flags,
					       int give_up_on_oom, long *err)
{
	struct vm_area_struct *ret;
	PYVMA_ENTER(NULL);

	*err = 0;
#ifdef PYVMA_HAS_FN_vma_modify_flags_uffd
	{
		struct vm_userfaultfd_ctx ctx;

		memset(&ctx, 0, sizeof(ctx));
#ifdef PYVMA_PTYPE_vma_modify_flags_uffd_5_vma_flags_t_p
		{
			vma_flags_t f;

			memset(&f, 0, sizeof(f));
			memcpy(&f, flags, sizeof(*flags));
			ret = vma_modify_flags_uffd(vmi, prev, vma, start, end, &f, ctx,
						    give_up_on_oom);
		}
#else
		ret = vma_modify_flags_uffd(vmi, prev, vma, start, end, *flags, ctx,
					    give_up_on_oom);
#endif
	}
#else
	ret = ERR_PTR(-ENOSYS);
#endif
	ret = pyvma_err_ptr(ret, err);
	PYVMA_LEAVE();
	return ret;
}

struct vm_area_struct *pyvma_merge_extend(struct vma_iterator *vmi, struct vm_area_struct *vma,
					  unsigned long delta)
{
	struct vm_area_struct *ret;
	PYVMA_ENTER(NULL);

	ret = vma_merge_extend(vmi, vma, delta);
	PYVMA_LEAVE();
	return ret;
}

/* copy_vma() (mremap); *vmap is updated as the tree's function updates it. */
struct vm_area_struct *pyvma_copy_vma(struct vm_area_struct **vmap, unsigned long addr,
				      unsigned long len, unsigned long pgoff,
				      unsigned long anon_pgoff, int *need_rmap_locks,
				      int keep_source)
{
	struct vm_area_struct *ret;
	bool need = *need_rmap_locks;
	PYVMA_ENTER(NULL);

#if PYVMA_NARGS_copy_vma == 7
	ret = copy_vma(vmap, addr, len, pgoff, anon_pgoff, &need, keep_source);
#elif PYVMA_NARGS_copy_vma == 6
	(void)anon_pgoff;
	ret = copy_vma(vmap, addr, len, pgoff, &need, keep_source);
#else
	/* trees before copy_vma() learnt keep_source (feature copy_vma_keep_source) */
	(void)anon_pgoff;
	(void)keep_source;
	ret = copy_vma(vmap, addr, len, pgoff, &need);
#endif
	*need_rmap_locks = need;
	PYVMA_LEAVE();
	return ret;
}
