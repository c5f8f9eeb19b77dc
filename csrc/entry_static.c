// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma entry points that need mm/vma.c's static functions (vma_link(),
 * vma_merge_existing_range(), split_vma() where static, __mmap_region(), ...) or
 * its static data (mm_all_locks_mutex).  The only glue file of the first
 * translation unit: generated gen/pyvma_tu.c includes the shim, the tree's
 * mm/vma*.c, then this file.  The top of the layers (pyvma_internal.h): it may
 * call into every other glue file, none calls into it.
 */
#include "pyvma_internal.h"

int pyvma_vma_link(struct mm_struct *mm, struct vm_area_struct *vma)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);

	err = vma_link(mm, vma);
	vma->vm_lock_seq = UINT_MAX;
	PYVMA_LEAVE();
	return err;
}

/* vma_merge_existing_range(): [start, end) of @middle changes to @flags. */
struct vm_area_struct *pyvma_merge_existing(struct mm_struct *mm, struct vm_area_struct *prev,
					    struct vm_area_struct *middle, unsigned long start,
					    unsigned long end, unsigned long pgoff,
					    unsigned long flags, struct anon_vma *av, int *state)
{
	struct vma_merge_struct vmg;
	struct vm_area_struct *vma;
	PYVMA_ENTER(NULL);
	VMA_ITERATOR(vmi, mm, start);

	pyvma_vmg_init(&vmg, mm, &vmi, start, end, pgoff, flags);
	vmg.prev = prev;
	PYVMA_VMG_MIDDLE(&vmg) = middle;
	vmg.anon_vma = av;
	if (middle)
		vmg.file = middle->vm_file;
	vma = vma_merge_existing_range(&vmg);
	*state = pyvma_state(&vmg);
	PYVMA_LEAVE();
	return vma;
}

/* ---- entry points that reach mm/vma.c's static functions ---------------- */

/* split_vma(): static in mm/vma.c before it was exported to mm/vma.h */
int pyvma_split(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr,
		int new_below)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);
	VMA_ITERATOR(vmi, mm, addr);

	err = split_vma(&vmi, vma, addr, new_below);
	PYVMA_LEAVE();
	return err;
}

/*
 * No rmap lock held, mm_take_all_locks()'s mutex (static in mm/vma.c) held by no
 * one: after a test that BUGged while holding them.
 */
void pyvma_locks_reset(void)
{
	pyvma_lock_registry_reset();
#ifdef PYVMA_HAS_FN_mm_take_all_locks
	mm_all_locks_mutex.pyvma_held = 0;
#endif
}

struct vm_area_struct *pyvma_vmg_merge_existing(struct vma_merge_struct *vmg)
{
	struct vm_area_struct *vma;
	PYVMA_ENTER(NULL);

	vma = vma_merge_existing_range(vmg);
	PYVMA_LEAVE();
	return vma;
}

/* The tree's __mmap_region() where mm/vma.c has it: the address, or -errno. */
long pyvma_mmap_region(struct file *file, unsigned long addr, unsigned long len,
		       unsigned long flags, unsigned long pgoff)
{
	long ret;
	PYVMA_ENTER(PYVMA_EBUG);

	if (pyvma_mmap_refused(file)) {
		PYVMA_LEAVE();
		return -ENODEV;
	}
#if defined(PYVMA_HAS_FN___mmap_region) && defined(PYVMA_PTYPE___mmap_region_3_vma_flags_t)
	{
		vma_flags_t f;

		memset(&f, 0, sizeof(f));
		memcpy(&f, &flags, sizeof(flags));
		ret = (long)__mmap_region(file, addr, len, f, pgoff, NULL);
	}
#elif defined(PYVMA_HAS_FN___mmap_region)
	ret = (long)__mmap_region(file, addr, len, flags, pgoff, NULL);
#else
	(void)file; (void)addr; (void)len; (void)flags; (void)pgoff;
	ret = -ENOSYS;
#endif
	PYVMA_LEAVE();
	return ret;
}

/* is_mergeable_anon_vma() of trees where it compares two anon_vmas; -1 elsewhere. */
int pyvma_is_mergeable_anon_vma(struct anon_vma *a, struct anon_vma *b,
				struct vm_area_struct *vma)
{
#if defined(PYVMA_HAS_FN_is_mergeable_anon_vma) && PYVMA_NARGS_is_mergeable_anon_vma == 3
	return is_mergeable_anon_vma(a, b, vma);
#else
	(void)a; (void)b; (void)vma;
	return -1;
#endif
}
