// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma merge requests and iterators: a struct vma_iterator and a struct
 * vma_merge_struct that live across calls, fields set one by one whatever the
 * tree calls them, as a test that keeps one `vmg` for a whole scenario needs;
 * and the helpers the one-shot entry points fill theirs with
 * (pyvma_vmg_init(), pyvma_state()).  Object layer; see pyvma_internal.h for
 * the order.
 */
#include "pyvma_internal.h"

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

