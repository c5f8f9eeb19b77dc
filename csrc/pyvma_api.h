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
int pyvma_bug_get(struct pyvma_site *out);
void pyvma_bug_clear(void);

struct mm_struct *pyvma_mm_new(void);
int pyvma_mm_destroy(struct mm_struct *mm);
int pyvma_mm_map_count(struct mm_struct *mm);
void pyvma_mm_set_current(struct mm_struct *mm);
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

struct anon_vma *pyvma_anon_vma_new(void);
void pyvma_anon_vma_free(struct anon_vma *av);
int pyvma_anon_vma_stats(struct anon_vma *av, int *clones, int *unlinks);
void pyvma_anon_reset(void);
struct file *pyvma_file_new(void);
void pyvma_file_free(struct file *f);
void pyvma_set_fail_clone(int fail);
int pyvma_write_lock_count(void);

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

long pyvma_bench_native(struct mm_struct *mm, long rounds, unsigned long flags);
