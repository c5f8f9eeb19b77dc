/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the glue's files share, and the order they are layered in.  Calls go one
 * way, down this list (tests/harness/test_csrc_layers.py checks it):
 *
 *   entry_seq_run.c  operation sequences in C, pyvma diff's fast path: the loop
 *   entry_seq_gen.c  ... the generator
 *   entry_seq.c      ... the world, one operation, its record (these three in
 *                    the second unit, compiled last; they call entry points of
 *                    both units)
 *   entry_static.c   entry points that need mm/vma.c's statics (first unit)
 *   entry_mmap.c     entry points: mmap, munmap, brk, gaps, rmap locking, ...
 *   entry_merge.c    entry points: merge, expand, shrink, modify, copy
 *   requests.c       objects: long-lived merge requests and iterators
 *   objects.c        objects: mm_structs, VMAs, anon_vmas, files
 *   flags.c          objects: the tree's flag table and vma_flags_t helpers
 *   hooks_file.c     hooks: files and the harness's vm_operations
 *   hooks.c          hooks: the pyvma_hook_* the generated shim calls
 *   runtime.c        WARN/BUG records, forced failures, limits, accounting
 *
 * A file calls functions of its own and of the files below it, never above.
 * The first translation unit is the shim, the tree's mm/vma*.c and
 * entry_static.c; the second is the shim (prototypes only) and the other files,
 * bottom up (vma_internal/shim.py).  The two compile side by side.  The
 * benchmark's native loop (bench/native.c) is no part of the library.
 * Everything here is hidden (-fvisibility=hidden): the library exports
 * csrc/pyvma_api.h and nothing else.
 */
#ifndef PYVMA_INTERNAL_H
#define PYVMA_INTERNAL_H

/* the API is what the library exports */
#pragma GCC visibility push(default)
#include "pyvma_api.h"
#pragma GCC visibility pop
#include "pyvma_tables.h"

/*
 * Every entry point Python calls is wrapped in PYVMA_ENTER/PYVMA_LEAVE: a BUG in
 * kernel code longjmps back to it and the call returns @errval.
 */
extern jmp_buf *pyvma_jb;
#define PYVMA_ENTER(errval)				\
	jmp_buf __pyvma_env;				\
	jmp_buf *__pyvma_saved = pyvma_jb;		\
	if (setjmp(__pyvma_env)) {			\
		pyvma_jb = __pyvma_saved;		\
		return errval;				\
	}						\
	pyvma_jb = &__pyvma_env
#define PYVMA_LEAVE() (pyvma_jb = __pyvma_saved)

/* the VMA a merge request works on: ->middle, or ->vma in older trees */
#ifdef PYVMA_VMG_HAS_middle
#define PYVMA_VMG_MIDDLE(vmg) ((vmg)->middle)
#else
#define PYVMA_VMG_MIDDLE(vmg) ((vmg)->vma)
#endif

/* An ERR_PTR() result as NULL with *@err set (0 stays as it is). */
/*
 * A file the tree's mmap path cannot map: where __mmap_region() calls ->mmap without
 * testing for one (6.12; PYVMA_MMAP_NEEDS_F_OP_MMAP, from pyvma_tables.h), a file
 * without ->mmap never reaches it -- do_mmap() returns -ENODEV first -- and neither
 * does it here.
 */
static inline int pyvma_mmap_refused(struct file *file)
{
#ifdef PYVMA_MMAP_NEEDS_F_OP_MMAP
	return file && !file->f_op->mmap;
#else
	(void)file;
	return 0;
#endif
}

static inline struct vm_area_struct *pyvma_err_ptr(struct vm_area_struct *ret, long *err)
{
	if (IS_ERR(ret)) {
		*err = PTR_ERR(ret);
		return NULL;
	}
	return ret;
}

/* ---- runtime.c ---------------------------------------------------------- */

void pyvma_once(void);
/* forced failures: 1 when the call at @site is to fail */
int pyvma_fault(int site);
/* rlimits (PYVMA_LIMIT_*) and the overcommit counter */
extern unsigned long pyvma_limits[PYVMA_NLIMITS];
extern long pyvma_committed_pages;
/* per-anon_vma accounting beside the kernel's struct */
#define PYVMA_MAX_ANON 64
struct pyvma_anon_rec {
	struct anon_vma *av;
	int clones, unlinks;
};
extern struct pyvma_anon_rec pyvma_anon[PYVMA_MAX_ANON];
int pyvma_anon_slot(struct anon_vma *av);
void pyvma_anon_forget(struct anon_vma *av);
/* the harness's objects (PYVMA_OBJ_*): Python's pins, a sweep's marks */
struct pyvma_obj {
	void *p;
	int kind, pins, mark;
};
extern struct pyvma_obj *pyvma_objs;
extern int pyvma_nobjs;
int pyvma_obj_add(void *p, int kind, int pins);
int pyvma_obj_find(const void *p);
void pyvma_obj_remove(int i);

/* ---- hooks.c ------------------------------------------------------------ */

/* the vm_operations every VMA the harness allocates starts with (no callbacks) */
extern const struct vm_operations_struct pyvma_dummy_vm_ops;
struct anon_vma *pyvma_anon_vma_alloc(void);
int pyvma_avc_link(struct vm_area_struct *vma, struct anon_vma *av);
void pyvma_avcs_free(struct mm_struct *mm);
int pyvma_lock_held(struct rw_semaphore *sem);
void pyvma_lock_registry_reset(void);

/* ---- hooks_file.c ------------------------------------------------------- */

/* the harness vm_operations with ->close only, and with the PYVMA_OPS_* @bits */
extern const struct vm_operations_struct pyvma_close_vm_ops;
const struct vm_operations_struct *pyvma_ops_of(int bits);

/* ---- requests.c --------------------------------------------------------- */

int pyvma_state(struct vma_merge_struct *vmg);
void pyvma_vmg_init(struct vma_merge_struct *vmg, struct mm_struct *mm,
		    struct vma_iterator *vmi, unsigned long start, unsigned long end,
		    unsigned long pgoff, unsigned long flags);

#endif /* PYVMA_INTERNAL_H */
