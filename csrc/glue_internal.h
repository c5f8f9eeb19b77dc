/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the glue's translation units share.  The first unit is the shim, the
 * tree's mm/vma*.c and glue.c (which alone reaches vma.c's static functions); the
 * second is the shim, glue_core.c, glue_ops.c, glue_paths.c and glue_flags.c.
 * The two compile side by side.  Everything here is hidden (-fvisibility=hidden): the library
 * exports csrc/pyvma_api.h and nothing else.
 */
#ifndef PYVMA_GLUE_INTERNAL_H
#define PYVMA_GLUE_INTERNAL_H

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

/* forced failures: 1 when the call at @site is to fail (glue_core.c) */
int pyvma_fault(int site);

/* per-anon_vma accounting beside the kernel's struct (glue_core.c) */
#define PYVMA_MAX_ANON 64
struct pyvma_anon_rec {
	struct anon_vma *av;
	int clones, unlinks;
};
extern struct pyvma_anon_rec pyvma_anon[PYVMA_MAX_ANON];
int pyvma_anon_slot(struct anon_vma *av);

/* vm_operations the harness hands out, and ->close calls counted (glue_core.c) */
extern const struct vm_operations_struct pyvma_dummy_vm_ops;
extern const struct vm_operations_struct pyvma_close_vm_ops;
extern int pyvma_closes;
void pyvma_dummy_close(struct vm_area_struct *vma);

/* glue_core.c's helpers */
void pyvma_once(void);
void pyvma_free_vma(struct vm_area_struct *vma);
void pyvma_free_avcs(struct mm_struct *mm);
int pyvma_state(struct vma_merge_struct *vmg);
void pyvma_vmg_init(struct vma_merge_struct *vmg, struct mm_struct *mm,
		    struct vma_iterator *vmi, unsigned long start, unsigned long end,
		    unsigned long pgoff, unsigned long flags);
void pyvma_all_locks_mutex_reset(void);

/* glue_ops.c's and glue_paths.c's */
int pyvma_mm_cleanup(struct mm_struct *mm);
int pyvma_hook_anon_vma_prepare(struct vm_area_struct *vma);

#endif /* PYVMA_GLUE_INTERNAL_H */
