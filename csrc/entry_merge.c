// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma entry points, merging: the one-shot merge / expand / shrink / munmap
 * calls, the same on a long-lived merge request (requests.c), and the modify /
 * extend / copy functions of the tree.  Uses mm/vma.c's public functions only
 * (what needs its static ones is in entry_static.c).  Each is wrapped in
 * PYVMA_ENTER/PYVMA_LEAVE: a BUG in kernel code returns here.  Entry layer; see
 * pyvma_internal.h for the order.
 */
#include "pyvma_internal.h"

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
