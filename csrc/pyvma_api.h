/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pyvma C API: what Python calls in every build, whatever the tree.  This file is
 * both compiled (after the tree's code) and given to cffi's cdef, so it holds only
 * plain declarations and integer #defines.
 */
#define PYVMA_EBUG -4096
#define PYVMA_MERGE_START 0
#define PYVMA_MERGE_ERROR_NOMEM 1
#define PYVMA_MERGE_NOMERGE 2
#define PYVMA_MERGE_SUCCESS 3

struct mm_struct;
struct vm_area_struct;
struct anon_vma;
struct file;

struct pyvma_site {
	const char *file;
	int line;
	const char *cond;
};

struct pyvma_flag {
	const char *name;
	unsigned long value;
	int is_mask;
};

struct pyvma_vma_info {
	void *vma;
	unsigned long start;
	unsigned long end;
	unsigned long pgoff;
	unsigned long flags;
	void *anon_vma;
	void *file;
	void *vm_ops;
	int write_locked;
	unsigned long anon_pgoff;
};

int pyvma_warn_count(void);
int pyvma_warn_get(int i, struct pyvma_site *out);
void pyvma_warn_clear(void);
void pyvma_set_warn_fd(int fd);
int pyvma_bug_get(struct pyvma_site *out);
void pyvma_bug_clear(void);
/* the coverage build's gcov counters: zeroed, written out (-1: not that build) */
int pyvma_coverage_reset(void);
int pyvma_coverage_dump(void);

struct mm_struct *pyvma_mm_new(void);
int pyvma_mm_destroy(struct mm_struct *mm);
int pyvma_mm_map_count(struct mm_struct *mm);
void pyvma_mm_set_current(struct mm_struct *mm);
void pyvma_mm_begin_op(struct mm_struct *mm);
void pyvma_vma_account(struct mm_struct *mm, struct vm_area_struct *vma);
void pyvma_account_range(struct mm_struct *mm, unsigned long flags, long npages);
int pyvma_mm_walk(struct mm_struct *mm, struct pyvma_vma_info *out, int max);
int pyvma_mm_check(struct mm_struct *mm, char *msg, int len);

struct vm_area_struct *pyvma_vma_alloc(struct mm_struct *mm, unsigned long start,
				       unsigned long end, unsigned long pgoff, unsigned long flags);
int pyvma_vma_link(struct mm_struct *mm, struct vm_area_struct *vma);
void pyvma_vma_free(struct vm_area_struct *vma);
void pyvma_vma_info(struct vm_area_struct *vma, struct pyvma_vma_info *out);
void pyvma_vma_reset_write(struct vm_area_struct *vma);
void pyvma_vma_set_anon_vma(struct vm_area_struct *vma, struct anon_vma *av);
void pyvma_vma_set_file(struct vm_area_struct *vma, struct file *file);
void pyvma_vma_set_flags(struct vm_area_struct *vma, unsigned long flags);
void pyvma_vma_set_vm_ops(struct vm_area_struct *vma, int which);
int pyvma_close_count(void);
int pyvma_vma_add_avc(struct vm_area_struct *vma, struct anon_vma *av);

/*
 * The harness's anon_vmas and files (made for Python or by kernel code through the
 * hooks) live while Python holds them (a pin each: _new() returns one pinned) or a
 * VMA of a live mm refers to them; pyvma_objects_sweep() frees the others.
 */
#define PYVMA_OBJ_ANON_VMA 0
#define PYVMA_OBJ_FILE 1
struct anon_vma *pyvma_anon_vma_new(void);
int pyvma_anon_vma_stats(struct anon_vma *av, int *clones, int *unlinks);
void pyvma_anon_reset(void);
struct file *pyvma_file_new(void);
int pyvma_obj_pin(void *obj, int delta);
int pyvma_objects_sweep(void);
int pyvma_objects_live(int kind);
void pyvma_set_fail_clone(int fail);

struct vm_area_struct *pyvma_merge_new(struct mm_struct *mm, unsigned long start,
				       unsigned long end, unsigned long pgoff,
				       unsigned long flags, struct anon_vma *av,
				       struct file *file, int *state);
struct vm_area_struct *pyvma_merge_existing(struct mm_struct *mm, struct vm_area_struct *prev,
					    struct vm_area_struct *middle, unsigned long start,
					    unsigned long end, unsigned long pgoff,
					    unsigned long flags, struct anon_vma *av, int *state);
int pyvma_expand(struct mm_struct *mm, struct vm_area_struct *target,
		 struct vm_area_struct *next, unsigned long start, unsigned long end,
		 unsigned long pgoff, int *state);
int pyvma_shrink(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long start,
		 unsigned long end, unsigned long pgoff);
int pyvma_split(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr,
		int new_below);
int pyvma_munmap(struct mm_struct *mm, unsigned long start, unsigned long len);

int pyvma_flag_count(void);
int pyvma_flag_get(int i, struct pyvma_flag *out);

/* ---- long-lived iterator and merge request, modify/copy/mmap, forced
 * failures, mm counters, the tree's vma_flags_t helpers ---- */
struct vma_iterator;
struct vma_merge_struct;

/* merge request members (pyvma_vmg_set/get) */
#define PYVMA_VMGF_PREV 0
#define PYVMA_VMGF_MIDDLE 1
#define PYVMA_VMGF_NEXT 2
#define PYVMA_VMGF_TARGET 3
#define PYVMA_VMGF_START 4
#define PYVMA_VMGF_END 5
#define PYVMA_VMGF_PGOFF 6
#define PYVMA_VMGF_ANON_PGOFF 7
#define PYVMA_VMGF_FLAGS 8
#define PYVMA_VMGF_FILE 9
#define PYVMA_VMGF_ANON_VMA 10
#define PYVMA_VMGF_JUST_EXPAND 11
#define PYVMA_VMGF_MM 12
#define PYVMA_VMGF_STATE 13

/* mm counters (pyvma_mm_counters/set_counter) */
#define PYVMA_MM_TOTAL_VM 0
#define PYVMA_MM_LOCKED_VM 1
#define PYVMA_MM_PINNED_VM 2
#define PYVMA_MM_DATA_VM 3
#define PYVMA_MM_EXEC_VM 4
#define PYVMA_MM_STACK_VM 5
#define PYVMA_MM_HIWATER_VM 6
#define PYVMA_MM_NCOUNTERS 7

/* vma_flags_t helpers (pyvma_vma_flags_op): on a vma_flags_t */
#define PYVMA_VF_MK 1
#define PYVMA_VF_APPEND 2
#define PYVMA_VF_COUNT 3
#define PYVMA_VF_EMPTY 4
#define PYVMA_VF_TEST 5
#define PYVMA_VF_TEST_SINGLE_MASK 6
#define PYVMA_VF_TEST_ANY 7
#define PYVMA_VF_TEST_ANY_MASK 8
#define PYVMA_VF_TEST_ALL 9
#define PYVMA_VF_TEST_ALL_MASK 10
#define PYVMA_VF_SET 11
#define PYVMA_VF_SET_MASK 12
#define PYVMA_VF_CLEAR 13
#define PYVMA_VF_CLEAR_MASK 14
#define PYVMA_VF_CLEAR_ALL 15
#define PYVMA_VF_AND 16
#define PYVMA_VF_AND_MASK 17
#define PYVMA_VF_DIFF_PAIR 18
#define PYVMA_VF_SAME 19
#define PYVMA_VF_SAME_MASK 20
#define PYVMA_VF_SAME_PAIR 21
#define PYVMA_VF_TO_LEGACY 22
#define PYVMA_VF_FROM_LEGACY 23
#define PYVMA_VF_OVERWRITE_WORD 24
#define PYVMA_VF_OVERWRITE_WORD_ONCE 25
#define PYVMA_VF_SET_WORD 26
#define PYVMA_VF_CLEAR_WORD 27
/* ... on a struct vm_area_struct */
#define PYVMA_VF_VMA_TEST 40
#define PYVMA_VF_VMA_TEST_SINGLE_MASK 41
#define PYVMA_VF_VMA_TEST_ANY 42
#define PYVMA_VF_VMA_TEST_ANY_MASK 43
#define PYVMA_VF_VMA_TEST_ALL 44
#define PYVMA_VF_VMA_TEST_ALL_MASK 45
#define PYVMA_VF_VMA_SET 46
#define PYVMA_VF_VMA_SET_MASK 47
#define PYVMA_VF_VMA_CLEAR 48
#define PYVMA_VF_VMA_CLEAR_MASK 49
/* ... on a struct vm_area_desc */
#define PYVMA_VF_DESC_TEST 60
#define PYVMA_VF_DESC_TEST_ANY 61
#define PYVMA_VF_DESC_TEST_ALL 62
#define PYVMA_VF_DESC_SET 63
#define PYVMA_VF_DESC_SET_MASK 64
#define PYVMA_VF_DESC_CLEAR 65
#define PYVMA_VF_DESC_CLEAR_MASK 66

void pyvma_set_fail_prealloc(int fail);
int pyvma_mm_cleanup(struct mm_struct *mm);
int pyvma_mm_counters(struct mm_struct *mm, unsigned long *out, int max);
int pyvma_mm_set_counter(struct mm_struct *mm, int which, unsigned long value);
int pyvma_vma_vm_ops(struct vm_area_struct *vma);
int pyvma_vma_avc_count(struct vm_area_struct *vma);
int pyvma_vma_attached(struct mm_struct *mm, struct vm_area_struct *vma);
void pyvma_anon_vma_reset(struct anon_vma *av);

struct vma_iterator *pyvma_vmi_new(struct mm_struct *mm, unsigned long addr);
void pyvma_vmi_free(struct vma_iterator *vmi);
void pyvma_vmi_set(struct vma_iterator *vmi, unsigned long addr);
unsigned long pyvma_vmi_addr(struct vma_iterator *vmi);
struct vm_area_struct *pyvma_vmi_step(struct vma_iterator *vmi, int how);

struct vma_merge_struct *pyvma_vmg_new(struct mm_struct *mm, struct vma_iterator *vmi);
void pyvma_vmg_free(struct vma_merge_struct *vmg);
int pyvma_vmg_set(struct vma_merge_struct *vmg, int field, unsigned long value);
int pyvma_vmg_get(struct vma_merge_struct *vmg, int field, unsigned long *value);
void pyvma_vmg_set_range(struct vma_merge_struct *vmg, unsigned long start, unsigned long end,
			 unsigned long pgoff, unsigned long flags);
struct vm_area_struct *pyvma_vmg_merge_new(struct vma_merge_struct *vmg, int lookup);
struct vm_area_struct *pyvma_vmg_merge_existing(struct vma_merge_struct *vmg);
int pyvma_vmg_expand(struct vma_merge_struct *vmg);

struct vm_area_struct *pyvma_modify_flags(struct vma_iterator *vmi, struct vm_area_struct *prev,
					  struct vm_area_struct *vma, unsigned long start,
					  unsigned long end, unsigned long *flags, long *err);
struct vm_area_struct *pyvma_modify_name(struct vma_iterator *vmi, struct vm_area_struct *prev,
					 struct vm_area_struct *vma, unsigned long start,
					 unsigned long end, unsigned long flags, const char *name,
					 long *err);
struct vm_area_struct *pyvma_modify_policy(struct vma_iterator *vmi, struct vm_area_struct *prev,
					   struct vm_area_struct *vma, unsigned long start,
					   unsigned long end, long *err);
struct vm_area_struct *pyvma_modify_flags_uffd(struct vma_iterator *vmi,
					       struct vm_area_struct *prev,
					       struct vm_area_struct *vma, unsigned long start,
					       unsigned long end, unsigned long *flags,
					       int give_up_on_oom, long *err);
struct vm_area_struct *pyvma_merge_extend(struct vma_iterator *vmi, struct vm_area_struct *vma,
					  unsigned long delta);
struct vm_area_struct *pyvma_copy_vma(struct vm_area_struct **vmap, unsigned long addr,
				      unsigned long len, unsigned long pgoff,
				      unsigned long anon_pgoff, int *need_rmap_locks,
				      int keep_source);
long pyvma_mmap_region(struct file *file, unsigned long addr, unsigned long len,
		       unsigned long flags, unsigned long pgoff);
int pyvma_is_mergeable_anon_vma(struct anon_vma *a, struct anon_vma *b,
				struct vm_area_struct *vma);

int pyvma_vma_flags_bits(void);
int pyvma_vma_flags_words(void);
int pyvma_vma_flags_op(int op, unsigned long *a, const unsigned long *b, const int *bits,
		       int nbits, unsigned long *out);

/* ---- the rest of mm/vma.c's entry points (mmap, brk, stack
 * growth, gap search, special mappings, rmap locking, writenotify), the
 * services they call made observable, and forced failures ---- */

/* forced failures (pyvma_fault_set): which kernel service fails */
#define PYVMA_FAULT_PREALLOC 0
#define PYVMA_FAULT_ANON_VMA_CLONE 1
#define PYVMA_FAULT_VMA_ALLOC 2
#define PYVMA_FAULT_MAS_STORE 3
#define PYVMA_FAULT_DUP_POLICY 4
#define PYVMA_FAULT_MAY_EXPAND_VM 5
#define PYVMA_FAULT_VM_ENOUGH_MEMORY 6
#define PYVMA_FAULT_MLOCK_FUTURE_OK 7
#define PYVMA_FAULT_UFFD_UNMAP_PREP 8
#define PYVMA_FAULT_SIGNAL_PENDING 9
#define PYVMA_FAULT_ANON_VMA_PREPARE 10
#define PYVMA_FAULT_SHMEM_ZERO_SETUP 11
#define PYVMA_FAULT_MMAP_ACTION_PREPARE 12
#define PYVMA_FAULT_MMAP_ACTION_COMPLETE 13
#define PYVMA_FAULT_FATAL_SIGNAL 14
#define PYVMA_NFAULTS 15

/* limits (pyvma_set_limit): rlimits in bytes, the overcommit limit in pages */
#define PYVMA_LIMIT_AS 0
#define PYVMA_LIMIT_MEMLOCK 1
#define PYVMA_LIMIT_STACK 2
#define PYVMA_LIMIT_COMMIT 3
#define PYVMA_NLIMITS 4

/* harness vm_operations (pyvma_vma_set_ops): which callbacks they have */
#define PYVMA_OPS_OPEN 1
#define PYVMA_OPS_CLOSE 2
#define PYVMA_OPS_MAY_SPLIT 4
#define PYVMA_OPS_PAGE_MKWRITE 8
#define PYVMA_OPS_PFN_MKWRITE 16
#define PYVMA_OPS_ALL 31

/* what a file's harness ->mmap / ->mmap_prepare do (pyvma_file_set) */
#define PYVMA_FILE_MMAP 0		/* install ->mmap (0/1) */
#define PYVMA_FILE_MMAP_PREPARE 1	/* install ->mmap_prepare (0/1) */
#define PYVMA_FILE_ERR 2		/* the callbacks return this */
#define PYVMA_FILE_SET_FLAGS 3		/* flags the callbacks set */
#define PYVMA_FILE_CLEAR_FLAGS 4	/* flags the callbacks clear */
#define PYVMA_FILE_OPS 5		/* vm_ops they install: PYVMA_OPS_* bits, -1 none, -2 NULL */
#define PYVMA_FILE_MOVE_START 6		/* ->mmap moves vm_start by this (a driver bug) */
#define PYVMA_FILE_SWAP 7		/* ->mmap_prepare maps this struct file * instead */
#define PYVMA_FILE_PGOFF_DELTA 8	/* ->mmap_prepare adds this to pgoff */
#define PYVMA_FILE_CAN_WRITEBACK 9	/* mapping_can_writeback() answer */
#define PYVMA_FILE_WRITABLE 10		/* i_mmap_writable (negative: writes denied) */
#define PYVMA_FILE_HIDE_RMAP 11		/* ->mmap_prepare asks hide_from_rmap_until_complete */
/* ... and what pyvma_file_stat reads */
#define PYVMA_FILE_REFS 20		/* f_count (get_file - fput) */
#define PYVMA_FILE_I_MMAP_VMAS 21	/* VMAs in the mapping's rmap tree */
#define PYVMA_FILE_I_MMAP_LOCKED 22	/* i_mmap_rwsem write-held */
#define PYVMA_FILE_ALL_LOCKS 23		/* AS_MM_ALL_LOCKS set in mapping->flags */
#define PYVMA_FILE_MMAP_CALLS 24
#define PYVMA_FILE_PREPARE_CALLS 25

/* harness vm_operations calls (pyvma_ops_stat) */
#define PYVMA_OPS_STAT_OPEN 0
#define PYVMA_OPS_STAT_CLOSE 1
#define PYVMA_OPS_STAT_MAY_SPLIT 2

void pyvma_fault_set(int site, int armed, long skip, long times);
long pyvma_fault_stat(int site, int which);
void pyvma_fault_reset(void);
void pyvma_set_limit(int which, unsigned long value);
long pyvma_committed(void);
void pyvma_set_committed(long pages);
void pyvma_limits_reset(void);
void pyvma_set_max_map_count(int count);
int pyvma_locks_held(void);
void pyvma_locks_reset(void);

void pyvma_vma_set_ops(struct vm_area_struct *vma, int bits);
int pyvma_vma_get_ops(struct vm_area_struct *vma);
long pyvma_ops_stat(int which);
void pyvma_ops_reset(void);
void pyvma_set_may_split_err(int err);
void pyvma_vma_set_page_prot(struct vm_area_struct *vma, unsigned long prot);
int pyvma_vma_set_anon_pgoff(struct vm_area_struct *vma, unsigned long pgoff);
int pyvma_vma_is_anonymous(struct vm_area_struct *vma);
void *pyvma_vma_private(struct vm_area_struct *vma);

void pyvma_file_set(struct file *f, int which, long value);
long pyvma_file_stat(struct file *f, int which);
int pyvma_anon_vma_locked(struct anon_vma *av, int which);
void pyvma_mm_set_def_flags(struct mm_struct *mm, unsigned long flags);
int pyvma_mm_set_mdwe(struct mm_struct *mm, int on);

long pyvma_mmap(struct file *file, unsigned long addr, unsigned long len,
		unsigned long flags, unsigned long pgoff, int with_uf);
int pyvma_munmap_ex(struct mm_struct *mm, unsigned long start, unsigned long len,
		    int with_uf, int unlock);
int pyvma_vm_munmap(unsigned long start, unsigned long len, int unlock);
int pyvma_brk(struct vma_iterator *vmi, struct vm_area_struct *vma, unsigned long addr,
	      unsigned long len, unsigned long flags);
long pyvma_unmapped_area(unsigned long length, unsigned long low_limit,
			 unsigned long high_limit, unsigned long align_mask,
			 unsigned long align_offset, unsigned long start_gap, int topdown);
int pyvma_expand_downwards(struct vm_area_struct *vma, unsigned long addr);
int pyvma_insert_vm_struct(struct mm_struct *mm, struct vm_area_struct *vma);
struct vm_area_struct *pyvma_install_special_mapping(struct mm_struct *mm, unsigned long addr,
						     unsigned long len, unsigned long flags,
						     int ops, long *err);
long pyvma_vma_mmu_pagesize(struct vm_area_struct *vma);
struct vm_area_struct *pyvma_create_init_stack_vma(struct mm_struct *mm, long *err);
int pyvma_relocate_vma_down(struct vm_area_struct *vma, unsigned long shift);
struct anon_vma *pyvma_find_mergeable_anon_vma(struct vm_area_struct *vma);
int pyvma_anon_vma_prepare(struct vm_area_struct *vma);
int pyvma_vma_needs_dirty_tracking(struct vm_area_struct *vma);
int pyvma_vma_wants_writenotify(struct vm_area_struct *vma, unsigned long prot);
int pyvma_mm_take_all_locks(struct mm_struct *mm);
int pyvma_mm_drop_all_locks(struct mm_struct *mm);
int pyvma_unlink_file_vmas(struct vm_area_struct **vmas, int n);

/* ---- seeded operation sequences run in C (csrc/entry_seq.c; pyvma diff's fast
 * path, pyvma/engine/fast.py): each operation of pyvma/engine/ops.py as a record,
 * and after each, the state diff compares as a fixed-size record ---- */

/* operation kinds (ops.py's names, in this order: pyvma/engine/fast.py KINDS) */
#define PYVMA_SEQ_MAP 0
#define PYVMA_SEQ_MERGE_NEW 1
#define PYVMA_SEQ_MODIFY 2
#define PYVMA_SEQ_SET_FLAGS 3
#define PYVMA_SEQ_EXPAND 4
#define PYVMA_SEQ_SHRINK 5
#define PYVMA_SEQ_SPLIT 6
#define PYVMA_SEQ_MUNMAP 7
#define PYVMA_SEQ_MMAP 8
#define PYVMA_SEQ_BRK 9
#define PYVMA_SEQ_COPY_VMA 10
#define PYVMA_SEQ_VM_MUNMAP 11
#define PYVMA_SEQ_FAULT 12
#define PYVMA_SEQ_INSERT 13
#define PYVMA_SEQ_FAIL 14
#define PYVMA_SEQ_MMAP_FILE 15		/* mmap of a file whose ->mmap does something */
#define PYVMA_SEQ_MMAP_PREPARE 16	/* ... whose ->mmap_prepare does something */
#define PYVMA_SEQ_MPROTECT 17		/* vma_modify_flags() as mprotect_fixup() calls it */
#define PYVMA_SEQ_NAME 18		/* vma_modify_name(): extra 0 no name, 1 "heap", 2 "buf" */
#define PYVMA_SEQ_POLICY 19		/* vma_modify_policy() */
#define PYVMA_SEQ_UFFD 20		/* vma_modify_flags_uffd(): extra give_up_on_oom */
#define PYVMA_SEQ_EXTEND 21		/* vma_merge_extend(): b pages more */
#define PYVMA_SEQ_STACK 22		/* expand_downwards() to page b */
#define PYVMA_SEQ_SPECIAL 23		/* __install_special_mapping(): extra 0 no vm_ops, else
					 * 1 + PYVMA_OPS_* bits */
#define PYVMA_SEQ_ALL_LOCKS 24		/* mm_take_all_locks(), mm_drop_all_locks() */
#define PYVMA_SEQ_LIMIT 25		/* extra PYVMA_LIMIT_*, a pages (-1: unlimited) */
#define PYVMA_SEQ_WRITENOTIFY 26	/* vma_wants_writenotify(a pages' VMA, b), then
					 * vma_needs_dirty_tracking(); extra 0 its vm_ops, else
					 * 1 + PYVMA_OPS_* installed first; c: can write back */
#define PYVMA_SEQ_UNMAPPED_AREA 27	/* a pages in [b, c): extra align pages << 1 | topdown */
#define PYVMA_SEQ_PAGESIZE 28		/* vma_mmu_pagesize() of a page's VMA */
#define PYVMA_SEQ_INIT_STACK 29		/* create_init_stack_vma(), a fault, relocate to page a */
#define PYVMA_SEQ_RELOCATE 30		/* relocate_vma_down() of a page's VMA by b pages */
/* the caller operations (engine/callers.py; their numbers are callers_spec.py's
 * kind, checked when fast.py loads a build): pages [a, b), extra the index of the
 * spec's named argument; mremap: c new pages, extra how | (dst page + 1) << 2 */
#define PYVMA_SEQ_MREMAP 31
#define PYVMA_SEQ_MPROTECT_PROT 32
#define PYVMA_SEQ_MADVISE 33
#define PYVMA_SEQ_MLOCK 34
#define PYVMA_SEQ_MLOCKALL 35		/* extra only */
#define PYVMA_SEQ_MSEAL 36
#define PYVMA_SEQ_NKINDS 37

/* the flags an operation names (bit i of pyvma_seq_op.flags: fast.py FLAG_NAMES) */
#define PYVMA_SEQ_NFLAGS 15
/* the named objects (pyvma_seq_op.av / .file; ids in a record's rows too):
 * av0, av1, f0, fc (a file whose ->mmap installs ->open/->close), then the files
 * of ops_paths.FILE_KINDS (their ->mmap / ->mmap_prepare behaviours), in the
 * order of their names; objects kernel code made are numbered in layout order
 * from PYVMA_SEQ_FRESH + 1 */
#define PYVMA_SEQ_AV0 1
#define PYVMA_SEQ_AV1 2
#define PYVMA_SEQ_F0 3
#define PYVMA_SEQ_FC 4
#define PYVMA_SEQ_FE 5			/* ->mmap fails with -EINVAL */
#define PYVMA_SEQ_FM 6			/* ->mmap sets VM_IO|VM_DONTEXPAND, vm_ops ->close */
#define PYVMA_SEQ_FP 7			/* ->mmap_prepare: vm_ops ->open/->close, pgoff + 1 */
#define PYVMA_SEQ_FPA 8			/* ->mmap_prepare: NULL vm_ops (anonymous) */
#define PYVMA_SEQ_FPE 9			/* ->mmap_prepare fails with -EINVAL */
#define PYVMA_SEQ_FPH 10		/* ->mmap_prepare hides the VMA from rmap */
#define PYVMA_SEQ_FPS 11		/* ->mmap_prepare maps f0 instead */
#define PYVMA_SEQ_NOBJS 12
#define PYVMA_SEQ_FRESH 100

/* a record's return value kind */
#define PYVMA_SEQ_RET_INT 0		/* ret: the int returned */
#define PYVMA_SEQ_RET_STATE 1		/* ret: a merge state (PYVMA_MERGE_*) */
#define PYVMA_SEQ_RET_NOVMA 2
#define PYVMA_SEQ_RET_INVALID 3
#define PYVMA_SEQ_RET_BUG 4
#define PYVMA_SEQ_RET_CALLER_NOMEM 5
#define PYVMA_SEQ_RET_RETURNED 6	/* ret: a vma_modify_*() VMA not covering the range:
					 * its start page << 20 | its end page */
#define PYVMA_SEQ_RET_WRITENOTIFY 7	/* ret: wants_writenotify << 1 | needs_dirty_tracking */
#define PYVMA_SEQ_RET_ADDRESS 8		/* ret: an address not a page nor an -errno */

/* pyvma_seq_cfg.opts */
#define PYVMA_SEQ_OPT_MMAP_CHECKS 1	/* mmap: mmap_region() (else __mmap_region()) */
#define PYVMA_SEQ_OPT_ANON_PGOFF 2	/* the tree keeps an anonymous page offset */
#define PYVMA_SEQ_OPT_RECORD_ANON_PGOFF 4	/* record it (else 0: not compared) */
#define PYVMA_SEQ_OPT_MAYBE_GUARD 8	/* madvise guard install sets VM_MAYBE_GUARD */
#define PYVMA_SEQ_OPT_KEEP_SOURCE 16	/* copy_vma() takes keep_source */
#define PYVMA_SEQ_OPT_MULTI_MOVE 32	/* mremap moves every VMA of a range (remap_move()) */

/* outcome classes of pyvma_seq_run's counts (per kind, PYVMA_SEQ_NCLASSES each):
 * ok, BUG, invalid, novma, caller nomem, the four merge states, returned, then -errno at
 * PYVMA_SEQ_CLASS_ERRNO + errno (errnos beyond: PYVMA_SEQ_CLASS_ERRNO_END - 1), then
 * writenotify's four answers (wants << 1 | dirty) and an address */
#define PYVMA_SEQ_CLASS_ERRNO 10
#define PYVMA_SEQ_CLASS_ERRNO_END 128
#define PYVMA_SEQ_CLASS_WRITENOTIFY 128
#define PYVMA_SEQ_CLASS_ADDRESS 132
#define PYVMA_SEQ_NCLASSES 133

struct pyvma_seq_op {
	int kind;
	int av;			/* 0 or PYVMA_SEQ_AV0/1 */
	int file;		/* 0 or PYVMA_SEQ_F0...PYVMA_SEQ_FPS */
	int extra;		/* split: new_below; copy_vma: move; fail: after; map: 1 an
				 * anonymous VMA (vm_ops NULL); and see
				 * the kinds above */
	long a, b, c;		/* pages (see fast.py encode()); fail: a = the site's index
				 * in pyvma_seq_cfg.fail_sites */
	unsigned long flags;	/* bits of the PYVMA_SEQ_NFLAGS names */
};

struct pyvma_seq_row {
	unsigned long pgoff;
	unsigned long anon_pgoff;
	unsigned long flags[2];		/* canonical name bits (pyvma_seq_cfg.canon) */
	unsigned int start, end;	/* pages */
	unsigned short anon, file;	/* ids (see PYVMA_SEQ_AV0) */
	unsigned short avc, vm_ops;
};

/* at most 24 VMAs: ops.GEN_PAGES */
struct pyvma_seq_rec {
	long ret;
	int ret_kind;
	int nrows;
	int map_count;
	int warns;		/* WARNs during the operation */
	int warn_first;		/* the first of them in the WARN log */
	int bug;
	long close_calls;
	long committed;
	unsigned long counters[7];
	int locks_held;		/* rmap locks held after the operation */
	int peak_locks;		/* ... and those mm_take_all_locks() held (0: none) */
	/* the files the sequence named so far (bit: id), per id its references,
	 * VMAs in its rmap tree and writable maps (ops.World.state's "files") */
	unsigned int files_named;
	int file_refs[12];	/* PYVMA_SEQ_NOBJS */
	int file_i_mmap[12];	/* PYVMA_SEQ_NOBJS */
	int file_writable[12];	/* PYVMA_SEQ_NOBJS */
	struct pyvma_seq_row rows[24];
};

struct pyvma_seq_cfg {
	unsigned long flag_values[16];	/* name bit -> the tree's flag (0: it lacks it) */
	unsigned long canon[64][2];	/* the tree's flag bit -> canonical name bits */
	unsigned long caller_flags[16];	/* fast.CALLER_FLAGS -> the tree's flag (0: lacks) */
	/* a fail operation's a: the index of its site here (ops.ALL_FAIL_SITES, the
	 * PYVMA_FAULT_* each is); the generator favours the first n_common_sites */
	int fail_sites[32];
	int n_fail_sites, n_common_sites;
	int opts;
	unsigned long gen_kinds;	/* entry-point kinds the generator may emit */
};

long pyvma_seq_run(const struct pyvma_seq_cfg *cfg, struct pyvma_seq_op *ops, long n,
		   int generate, unsigned long seed, struct pyvma_seq_rec *out, long *counts);
