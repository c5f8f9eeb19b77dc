/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pyvma overrides: definitions that win over the tree's because the harness gives
 * them userland form.  This file is parsed by vma_internal/ like a tree header;
 * what it defines is emitted into the generated shim instead of the tree's
 * definition, together with the tree definitions it depends on.
 *
 * Only objects mm/vma.c points at but whose kernel definitions drag in the rest
 * of the kernel are here (mm_struct, file, inode, task) — written for the
 * harness, holding the members the VMA code touches.  vm_area_struct, the flags,
 * the iterators and the helpers come from the tree.
 */

#define __randomize_layout
#define ____cacheline_aligned_in_smp
#define __cacheline_aligned_in_smp
#define __no_randomize_layout
#define __rcu
#define __private
#define __init
#define __initdata
#define __ro_after_init
#define __read_mostly
#define __lockdep_map_init(x)

/* x86-64 user address space facts: 47-bit user VA, 4K pages. */
#define TASK_SIZE		((1UL << 47) - PAGE_SIZE)
#define TASK_SIZE_MAX		TASK_SIZE
#define STACK_TOP		TASK_SIZE
#define STACK_TOP_MAX		TASK_SIZE
#define pgprot_val(x)		((x).pgprot)
#define __pgprot(x)		((pgprot_t) { (x) })
#define data_race(expr)		(expr)

/* x86 has no D-cache aliasing: these are no-ops there (asm/cacheflush.h). */
#define flush_dcache_mmap_lock(mapping)		do { } while (0)
#define flush_dcache_mmap_unlock(mapping)	do { } while (0)
#define flush_cache_range(vma, start, end)	do { } while (0)
#define DEFINE_MUTEX(name)	struct mutex name = { PTHREAD_MUTEX_INITIALIZER, 0 }
/* rmap locks taken by kernel code go to the harness's lock registry (hooks.c) */
#define down_write_nest_lock(sem, nest_lock)	pyvma_hook_lock(sem)

typedef struct { unsigned long pgprot; } pgprot_t;
typedef struct { unsigned long pgd; } pgd_t;
typedef struct { unsigned long v; } freeptr_t;

struct mm_struct {
	struct maple_tree mm_mt;
	int map_count;
	unsigned long total_vm;
	unsigned long locked_vm;
	unsigned long pinned_vm;
	unsigned long data_vm;
	unsigned long exec_vm;
	unsigned long stack_vm;
	unsigned long hiwater_vm;
	unsigned long def_flags;
#ifdef PYVMA_HAS_TYPE_vma_flags_t
	vma_flags_t def_vma_flags;
#endif
#ifdef PYVMA_HAS_TYPE_mm_flags_t
	mm_flags_t flags;
#else
	unsigned long flags;
#endif
	unsigned long mmap_base;
	unsigned long task_size;
	unsigned long start_stack, start_brk, brk, arg_start;
	struct rw_semaphore mmap_lock;
	spinlock_t page_table_lock;	/* 6.12's stack expansion (mm/mmap.c) takes it */
	unsigned long mm_lock_seq;
	unsigned int pyvma_lock_session;	/* see pyvma_mm_begin_op() */
	struct task_struct *owner;
	struct user_namespace *user_ns;
	atomic_t mm_users;
	atomic_t mm_count;
};

struct address_space {
	struct inode *host;
	unsigned long flags;
	struct rw_semaphore i_mmap_rwsem;
	atomic_t i_mmap_writable;
	struct rb_root_cached i_mmap;
	unsigned long nrpages;
	/* harness: VMAs in i_mmap (the rmap tree is not kept); can it write back? */
	int pyvma_i_mmap_vmas;
	int pyvma_can_writeback;
};

struct inode {
	unsigned short i_mode;
	unsigned int i_flags;
	struct address_space *i_mapping;
	struct super_block *i_sb;
};

struct file_operations {
	int (*mmap)(struct file *, struct vm_area_struct *);
	int (*mmap_prepare)(struct vm_area_desc *);
	unsigned long (*get_unmapped_area)(struct file *, unsigned long, unsigned long,
					   unsigned long, unsigned long);
};

struct file {
	struct address_space *f_mapping;
	const struct file_operations *f_op;
	struct inode *f_inode;
	unsigned int f_flags;
	unsigned int f_mode;
	atomic_long_t f_count;
	void *private_data;
	/* harness: the file's own operations and what its ->mmap / ->mmap_prepare
	 * do when the test installs them (csrc/hooks_file.c) */
	struct file_operations pyvma_fops;
	struct pyvma_file_behaviour *pyvma_beh;
};

struct task_struct {
	char comm[16];
	int pid;
	struct mm_struct *mm;
	unsigned long flags;
};

struct mutex {
	pthread_mutex_t lock;
	int pyvma_held;
};

struct mmu_gather {
	struct mm_struct *mm;
};

extern struct task_struct pyvma_current_task;
#define current (&pyvma_current_task)

/* Harness hooks (csrc/hooks.c, csrc/hooks_file.c) that the generated stubs call. */
void pyvma_hook_start_write(struct vm_area_struct *vma);
void pyvma_hook_assert_write_locked(struct vm_area_struct *vma);
int pyvma_hook_anon_vma_clone(struct vm_area_struct *dst, struct vm_area_struct *src);
void pyvma_hook_unlink_anon_vmas(struct vm_area_struct *vma);
int pyvma_hook_anon_vma_prepare(struct vm_area_struct *vma);
struct vm_area_struct *pyvma_hook_vm_area_alloc(struct mm_struct *mm);
struct vm_area_struct *pyvma_hook_vm_area_dup(struct vm_area_struct *vma);
void pyvma_hook_vm_area_free(struct vm_area_struct *vma);
int pyvma_hook_iter_prealloc(struct vma_iterator *vmi, struct vm_area_struct *vma);
int pyvma_hook_mas_store_gfp(struct ma_state *mas, void *entry, gfp_t gfp);
int pyvma_hook_iter_store_gfp(struct vma_iterator *vmi, struct vm_area_struct *vma, gfp_t gfp);
void *pyvma_hook_kmem_cache_alloc(struct kmem_cache *cachep, int flags);
void pyvma_hook_kmem_cache_free(struct kmem_cache *cachep, void *objp);
bool pyvma_hook_may_expand_vm(struct mm_struct *mm, unsigned long npages);
bool pyvma_hook_mlock_future_ok(const struct mm_struct *mm, unsigned long locked,
				unsigned long bytes);
unsigned long pyvma_hook_rlimit(unsigned int limit);
int pyvma_hook_vm_enough_memory(struct mm_struct *mm, long pages);
void pyvma_hook_vm_unacct_memory(long pages);
int pyvma_hook_signal_pending(void);
int pyvma_hook_fatal_signal_pending(void);
int pyvma_hook_start_write_killable(struct vm_area_struct *vma);
int pyvma_hook_uffd_unmap_prep(void);
int pyvma_hook_dup_policy(void);
int pyvma_hook_shmem_zero_setup(struct vm_area_struct *vma);
int pyvma_hook_mmap_action_prepare(void);
int pyvma_hook_mmap_action_complete(struct vm_area_struct *vma, struct mmap_action *action);
bool pyvma_hook_mm_flags_test(int flag, const struct mm_struct *mm);
struct file *pyvma_hook_get_file(struct file *f);
void pyvma_hook_fput(struct file *f);
int pyvma_hook_mapping_map_writable(struct address_space *mapping);
void pyvma_hook_mapping_unmap_writable(struct address_space *mapping);
bool pyvma_hook_mapping_can_writeback(struct address_space *mapping);
void pyvma_hook_i_mmap(struct address_space *mapping, int delta);
void pyvma_hook_i_mmap_root(struct rb_root_cached *root, int delta);
void pyvma_hook_lock(struct rw_semaphore *sem);
void pyvma_hook_unlock(struct rw_semaphore *sem);
int pyvma_hook_mutex(struct mutex *lock, int op);
void pyvma_hook_free_pgtables(struct unmap_desc *unmap);
void pyvma_hook_free_pgtables_mas(struct ma_state *mas, struct vm_area_struct *vma,
				  unsigned long ceiling);
