// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma entry points, mapping: the rest of mm/vma.c's entry points and the
 * functions of the tree around them — mmap_region(), munmap with a userfaultfd
 * list or the lock dropped, __vm_munmap(), do_brk_flags(),
 * unmapped_area[_topdown](), expand_downwards(), insert_vm_struct(),
 * __install_special_mapping(), find_mergeable_anon_vma(), anon_vma_prepare(),
 * vma_needs_dirty_tracking(), vma_wants_writenotify(),
 * mm_take_all_locks()/mm_drop_all_locks() and the unlink_file_vma_batch_*()
 * helpers.  Each is wrapped in PYVMA_ENTER/PYVMA_LEAVE.  Entry layer; see
 * pyvma_internal.h for the order.
 */
#include "pyvma_internal.h"

static void pyvma_uf_drain(struct list_head *uf)
{
	INIT_LIST_HEAD(uf);
}

/* The tree's mmap_region() (MDWE, arch and writable-file checks, then
 * __mmap_region()): the address, or -errno. */
long pyvma_mmap(struct file *file, unsigned long addr, unsigned long len,
		unsigned long flags, unsigned long pgoff, int with_uf)
{
	long ret;
	LIST_HEAD(uf);
	PYVMA_ENTER(PYVMA_EBUG);

	if (pyvma_mmap_refused(file)) {
		ret = -ENODEV;
		goto out;
	}
#if defined(PYVMA_HAS_FN_mmap_region) && defined(PYVMA_PTYPE_mmap_region_3_vma_flags_t)
	{
		vma_flags_t f;

		memset(&f, 0, sizeof(f));
		memcpy(&f, &flags, sizeof(flags));
		ret = (long)mmap_region(file, addr, len, f, pgoff, with_uf ? &uf : NULL);
	}
#elif defined(PYVMA_HAS_FN_mmap_region)
	ret = (long)mmap_region(file, addr, len, flags, pgoff, with_uf ? &uf : NULL);
#else
	(void)file; (void)addr; (void)len; (void)flags; (void)pgoff; (void)with_uf;
	ret = -ENOSYS;
#endif
out:
	pyvma_uf_drain(&uf);
	PYVMA_LEAVE();
	return ret;
}

/* do_vmi_munmap() with a userfaultfd list (@with_uf) and/or the lock dropped on
 * success (@unlock). */
int pyvma_munmap_ex(struct mm_struct *mm, unsigned long start, unsigned long len,
		    int with_uf, int unlock)
{
	int err;
	LIST_HEAD(uf);
	PYVMA_ENTER(PYVMA_EBUG);
	VMA_ITERATOR(vmi, mm, start);

	err = do_vmi_munmap(&vmi, mm, start, len, with_uf ? &uf : NULL, unlock);
	pyvma_uf_drain(&uf);
	PYVMA_LEAVE();
	return err;
}

int pyvma_vm_munmap(unsigned long start, unsigned long len, int unlock)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);

#ifdef PYVMA_HAS_FN___vm_munmap
	err = __vm_munmap(start, len, unlock);
#else
	(void)start; (void)len; (void)unlock;
	err = -ENOSYS;
#endif
	PYVMA_LEAVE();
	return err;
}

int pyvma_brk(struct vma_iterator *vmi, struct vm_area_struct *vma, unsigned long addr,
	      unsigned long len, unsigned long flags)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);

#if defined(PYVMA_HAS_FN_do_brk_flags) && defined(PYVMA_PTYPE_do_brk_flags_4_vma_flags_t)
	{
		vma_flags_t f;

		memset(&f, 0, sizeof(f));
		memcpy(&f, &flags, sizeof(flags));
		err = do_brk_flags(vmi, vma, addr, len, f);
	}
#elif defined(PYVMA_HAS_FN_do_brk_flags)
	err = do_brk_flags(vmi, vma, addr, len, flags);
#else
	(void)vmi; (void)vma; (void)addr; (void)len; (void)flags;
	err = -ENOSYS;
#endif
	PYVMA_LEAVE();
	return err;
}

/* unmapped_area() / unmapped_area_topdown() in current->mm: the address or -errno. */
long pyvma_unmapped_area(unsigned long length, unsigned long low_limit,
			 unsigned long high_limit, unsigned long align_mask,
			 unsigned long align_offset, unsigned long start_gap, int topdown)
{
	long ret;
	PYVMA_ENTER(PYVMA_EBUG);

#if defined(PYVMA_HAS_FN_unmapped_area) && defined(PYVMA_HAS_FN_unmapped_area_topdown)
	{
		struct vm_unmapped_area_info info;

		memset(&info, 0, sizeof(info));
		info.length = length;
		info.low_limit = low_limit;
		info.high_limit = high_limit;
		info.align_mask = align_mask;
		info.align_offset = align_offset;
		info.start_gap = start_gap;
		ret = (long)(topdown ? unmapped_area_topdown(&info) : unmapped_area(&info));
	}
#else
	(void)length; (void)low_limit; (void)high_limit; (void)align_mask;
	(void)align_offset; (void)start_gap; (void)topdown;
	ret = -ENOSYS;
#endif
	PYVMA_LEAVE();
	return ret;
}

int pyvma_expand_downwards(struct vm_area_struct *vma, unsigned long addr)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);

#ifdef PYVMA_HAS_FN_expand_downwards
	err = expand_downwards(vma, addr);
#else
	(void)vma; (void)addr;
	err = -ENOSYS;
#endif
	PYVMA_LEAVE();
	return err;
}

int pyvma_insert_vm_struct(struct mm_struct *mm, struct vm_area_struct *vma)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);

#ifdef PYVMA_HAS_FN_insert_vm_struct
	err = insert_vm_struct(mm, vma);
	if (!err)
		vma->vm_lock_seq = UINT_MAX;	/* as pyvma_vma_link leaves it */
#else
	(void)mm; (void)vma;
	err = -ENOSYS;
#endif
	PYVMA_LEAVE();
	return err;
}

struct vm_area_struct *pyvma_install_special_mapping(struct mm_struct *mm, unsigned long addr,
						     unsigned long len, unsigned long flags,
						     int ops, long *err)
{
	struct vm_area_struct *ret;
	PYVMA_ENTER(NULL);

	*err = 0;
#ifdef PYVMA_HAS_FN___install_special_mapping
	ret = __install_special_mapping(mm, addr, len, flags, NULL,
					ops < 0 ? NULL : pyvma_ops_of(ops));
#else
	(void)mm; (void)addr; (void)len; (void)flags; (void)ops;
	ret = ERR_PTR(-ENOSYS);
#endif
	ret = pyvma_err_ptr(ret, err);
	PYVMA_LEAVE();
	return ret;
}

/*
 * mm/vma_exec.c (feature ``vma_exec.c``): exec's stack.  create_init_stack_vma()
 * puts a one-page stack at STACK_TOP_MAX; relocate_vma_down() moves a VMA down by
 * @shift bytes (setup_arg_pages() moving that stack to its place).
 */
struct vm_area_struct *pyvma_create_init_stack_vma(struct mm_struct *mm, long *err)
{
	struct vm_area_struct *vma = NULL;
	unsigned long top = 0;
	PYVMA_ENTER(NULL);

	*err = 0;
#ifdef PYVMA_HAS_FN_create_init_stack_vma
	*err = create_init_stack_vma(mm, &vma, &top);
	if (!*err)
		vma->vm_lock_seq = UINT_MAX;	/* as pyvma_vma_link leaves it */
#else
	(void)mm; (void)top;
	*err = -ENOSYS;
#endif
	PYVMA_LEAVE();
	return *err ? NULL : vma;
}

int pyvma_relocate_vma_down(struct vm_area_struct *vma, unsigned long shift)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);

#ifdef PYVMA_HAS_FN_relocate_vma_down
	err = relocate_vma_down(vma, shift);
#else
	(void)vma; (void)shift;
	err = -ENOSYS;
#endif
	PYVMA_LEAVE();
	return err;
}

long pyvma_vma_mmu_pagesize(struct vm_area_struct *vma)
{
#ifdef PYVMA_HAS_FN_vma_mmu_pagesize
	return (long)vma_mmu_pagesize(vma);
#else
	(void)vma;
	return -ENOSYS;
#endif
}

struct anon_vma *pyvma_find_mergeable_anon_vma(struct vm_area_struct *vma)
{
	struct anon_vma *av;
	PYVMA_ENTER(NULL);

	av = find_mergeable_anon_vma(vma);
	PYVMA_LEAVE();
	return av;
}

/* anon_vma_prepare() as a fault would call it (the tree's inline, our backend). */
int pyvma_anon_vma_prepare(struct vm_area_struct *vma)
{
	int err;
	PYVMA_ENTER(PYVMA_EBUG);

	err = anon_vma_prepare(vma);
	PYVMA_LEAVE();
	return err;
}

int pyvma_vma_needs_dirty_tracking(struct vm_area_struct *vma)
{
	int ret;
	PYVMA_ENTER(PYVMA_EBUG);

	ret = vma_needs_dirty_tracking(vma);
	PYVMA_LEAVE();
	return ret;
}

int pyvma_vma_wants_writenotify(struct vm_area_struct *vma, unsigned long prot)
{
	int ret;
	PYVMA_ENTER(PYVMA_EBUG);

	ret = vma_wants_writenotify(vma, __pgprot(prot));
	PYVMA_LEAVE();
	return ret;
}

int pyvma_mm_take_all_locks(struct mm_struct *mm)
{
	int ret;
	PYVMA_ENTER(PYVMA_EBUG);

	ret = mm_take_all_locks(mm);
	PYVMA_LEAVE();
	return ret;
}

int pyvma_mm_drop_all_locks(struct mm_struct *mm)
{
	PYVMA_ENTER(PYVMA_EBUG);

	mm_drop_all_locks(mm);
	PYVMA_LEAVE();
	return 0;
}

/* unlink_file_vma_batch_init/add/final over @vmas, as free_pgtables() uses them. */
int pyvma_unlink_file_vmas(struct vm_area_struct **vmas, int n)
{
	struct unlink_vma_file_batch vb;
	int i;
	PYVMA_ENTER(PYVMA_EBUG);

	unlink_file_vma_batch_init(&vb);
	for (i = 0; i < n; i++)
		unlink_file_vma_batch_add(&vb, vmas[i]);
	unlink_file_vma_batch_final(&vb);
	PYVMA_LEAVE();
	return 0;
}
