// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma glue, third part: the rest of mm/vma.c's entry points and the kernel
 * services they call, made observable.  Compiled in the glue's second
 * translation unit (see glue_ops.c).
 *
 *  - limits and accounting: may_expand_vm() against RLIMIT_AS, mlock_future_ok()
 *    against RLIMIT_MEMLOCK, rlimit(RLIMIT_STACK), an overcommit counter that
 *    security_vm_enough_memory_mm() charges and vm_unacct_memory() gives back;
 *  - files: reference counts (get_file/fput), writable mappings
 *    (i_mmap_writable), how many VMAs the mapping's rmap tree holds, whether it
 *    can write back, and a ->mmap / ->mmap_prepare a test configures;
 *  - rmap locks: i_mmap_rwsem and the anon_vma root rwsem are taken and released
 *    in a registry (taking one twice is the deadlock it would be in the kernel:
 *    a BUG), mm_all_locks_mutex is held or not;
 *  - vm_operations with open / close / may_split / page_mkwrite / pfn_mkwrite;
 *  - free_pgtables(): the rmap unlinking of the VMAs it is handed (page tables
 *    themselves are not modelled);
 *  - the entry points: mmap_region(), munmap with a userfaultfd list or the lock
 *    dropped, __vm_munmap(), do_brk_flags(), unmapped_area[_topdown](),
 *    expand_downwards(), insert_vm_struct(), __install_special_mapping(),
 *    find_mergeable_anon_vma(), vma_needs_dirty_tracking(),
 *    vma_wants_writenotify(), mm_take_all_locks()/mm_drop_all_locks(), and the
 *    unlink_file_vma_batch_*() helpers.
 *
 * Tree differences go through the PYVMA_* macros of pyvma_tables.h.
 */
#include "glue_internal.h"

/* ---- limits and accounting ----------------------------------------------- */

static unsigned long pyvma_limits[PYVMA_NLIMITS] = { ~0UL, ~0UL, ~0UL, ~0UL };
static long pyvma_committed_pages;
static int pyvma_default_max_map_count = -1;

void pyvma_set_limit(int which, unsigned long value)
{
	if (which >= 0 && which < PYVMA_NLIMITS)
		pyvma_limits[which] = value;
}

long pyvma_committed(void) { return pyvma_committed_pages; }
void pyvma_set_committed(long pages) { pyvma_committed_pages = pages; }

void pyvma_set_max_map_count(int count)
{
	pyvma_once();		/* the harness's globals hold their values from here */
	if (pyvma_default_max_map_count < 0)
		pyvma_default_max_map_count = sysctl_max_map_count;
	sysctl_max_map_count = count < 0 ? pyvma_default_max_map_count : count;
}

void pyvma_limits_reset(void)
{
	int i;

	for (i = 0; i < PYVMA_NLIMITS; i++)
		pyvma_limits[i] = ~0UL;
	pyvma_committed_pages = 0;
	pyvma_set_max_map_count(-1);
}

/* The address-space limit: total_vm may not pass RLIMIT_AS. */
bool pyvma_hook_may_expand_vm(struct mm_struct *mm, unsigned long npages)
{
	if (pyvma_fault(PYVMA_FAULT_MAY_EXPAND_VM))
		return false;
	return mm->total_vm + npages <= pyvma_limits[PYVMA_LIMIT_AS] >> PAGE_SHIFT;
}

/* Locked memory may not pass RLIMIT_MEMLOCK (@locked: the VMA is VM_LOCKED). */
bool pyvma_hook_mlock_future_ok(const struct mm_struct *mm, unsigned long locked,
				unsigned long bytes)
{
	if (pyvma_fault(PYVMA_FAULT_MLOCK_FUTURE_OK))
		return false;
	if (!locked)
		return true;
	return mm->locked_vm + (bytes >> PAGE_SHIFT) <=
	       pyvma_limits[PYVMA_LIMIT_MEMLOCK] >> PAGE_SHIFT;
}

unsigned long pyvma_hook_rlimit(unsigned int limit)
{
#ifdef RLIMIT_STACK
	if (limit == RLIMIT_STACK)
		return pyvma_limits[PYVMA_LIMIT_STACK];
#endif
	return ~0UL;
}

/* Overcommit: charge @pages unless that passes the limit (then -ENOMEM). */
int pyvma_hook_vm_enough_memory(struct mm_struct *mm, long pages)
{
	if (pyvma_fault(PYVMA_FAULT_VM_ENOUGH_MEMORY))
		return -ENOMEM;
	if (pyvma_committed_pages + pages > (long)pyvma_limits[PYVMA_LIMIT_COMMIT] &&
	    pyvma_limits[PYVMA_LIMIT_COMMIT] != ~0UL)
		return -ENOMEM;
	pyvma_committed_pages += pages;
	return 0;
}

void pyvma_hook_vm_unacct_memory(long pages)
{
	pyvma_committed_pages -= pages;
}

int pyvma_hook_signal_pending(void)
{
	/* a pending fatal signal is a pending signal too */
	return pyvma_fault(PYVMA_FAULT_SIGNAL_PENDING) | pyvma_hook_fatal_signal_pending();
}

/*
 * A fatal signal (SIGKILL) pending: fatal_signal_pending() is true and every killable
 * wait fails with -EINTR (as if the lock had been contended when the signal came).
 */
int pyvma_hook_fatal_signal_pending(void)
{
	return pyvma_fault(PYVMA_FAULT_FATAL_SIGNAL);
}

/* vma_start_write_killable(): no wait (so no failure) if already write-locked */
int pyvma_hook_start_write_killable(struct vm_area_struct *vma)
{
	if (vma->vm_lock_seq == vma->vm_mm->pyvma_lock_session)
		return 0;
	if (pyvma_hook_fatal_signal_pending())
		return -EINTR;
	pyvma_hook_start_write(vma);
	return 0;
}

int pyvma_hook_uffd_unmap_prep(void)
{
	return pyvma_fault(PYVMA_FAULT_UFFD_UNMAP_PREP) ? -ENOMEM : 0;
}

int pyvma_hook_dup_policy(void)
{
	return pyvma_fault(PYVMA_FAULT_DUP_POLICY) ? -ENOMEM : 0;
}

int pyvma_hook_shmem_zero_setup(struct vm_area_struct *vma)
{
	return pyvma_fault(PYVMA_FAULT_SHMEM_ZERO_SETUP) ? -ENOMEM : 0;
}

int pyvma_hook_mmap_action_prepare(void)
{
	return pyvma_fault(PYVMA_FAULT_MMAP_ACTION_PREPARE) ? -EINVAL : 0;
}

/*
 * The action itself is not modelled (MMAP_NOTHING); what completing it does to
 * the VMA is: the rmap lock held to hide it is released, and on failure the new
 * VMA is unmapped again and the error (or the action's override) returned.
 */
int pyvma_hook_mmap_action_complete(struct vm_area_struct *vma, struct mmap_action *action)
{
	int err = pyvma_fault(PYVMA_FAULT_MMAP_ACTION_COMPLETE) ? -EINVAL : 0;

#ifdef PYVMA_DESC_HAS_action
	if (action->hide_from_rmap_until_complete && vma->vm_file)
		i_mmap_unlock_write(vma->vm_file->f_mapping);
	if (err) {
		VMA_ITERATOR(vmi, vma->vm_mm, vma->vm_start);

		do_vmi_munmap(&vmi, vma->vm_mm, vma->vm_start, vma->vm_end - vma->vm_start,
			      NULL, false);
		if (action->error_override)
			err = action->error_override;
	}
#endif
	return err;
}

/* mm->flags is a plain bitmap here; MMF_* bits are the tree's. */
bool pyvma_hook_mm_flags_test(int flag, const struct mm_struct *mm)
{
	return test_bit(flag, (const unsigned long *)&mm->flags);
}

int pyvma_mm_set_mdwe(struct mm_struct *mm, int on)
{
#ifdef MMF_HAS_MDWE
	if (on)
		set_bit(MMF_HAS_MDWE, (unsigned long *)&mm->flags);
	else
		clear_bit(MMF_HAS_MDWE, (unsigned long *)&mm->flags);
	return 0;
#else
	return -1;
#endif
}

void pyvma_mm_set_def_flags(struct mm_struct *mm, unsigned long flags)
{
	mm->def_flags = flags;
#ifdef PYVMA_HAS_TYPE_vma_flags_t
	memset(&mm->def_vma_flags, 0, sizeof(mm->def_vma_flags));
	memcpy(&mm->def_vma_flags, &flags, sizeof(flags));
#endif
}

/* ---- maple tree stores and the VMA slab (forced failures) ---------------- */

int pyvma_hook_mas_store_gfp(struct ma_state *mas, void *entry, gfp_t gfp)
{
	if (!(gfp & __GFP_NOFAIL) && pyvma_fault(PYVMA_FAULT_MAS_STORE)) {
		mas->node = MA_ERROR(-ENOMEM);
		mas->status = ma_error;
		return -ENOMEM;
	}
	return (mas_store_gfp)(mas, entry, gfp);
}

int pyvma_hook_iter_store_gfp(struct vma_iterator *vmi, struct vm_area_struct *vma, gfp_t gfp)
{
	if (pyvma_fault(PYVMA_FAULT_MAS_STORE))
		return -ENOMEM;
#ifdef PYVMA_HAS_FN_vma_iter_store_gfp
	return (vma_iter_store_gfp)(vmi, vma, gfp);
#else
	return -ENOSYS;
#endif
}

void *pyvma_hook_kmem_cache_alloc(struct kmem_cache *cachep, int flags)
{
	if (pyvma_fault(PYVMA_FAULT_VMA_ALLOC))
		return NULL;
	return (kmem_cache_alloc)(cachep, flags);
}

/*
 * Every kmem_cache_free() of the tree's mm code.  The userland slab
 * (tools/testing/shared/linux.c) keeps freed objects on a list for reuse, so a
 * VMA used after vm_area_free() would still read as a live object.  Under ASan
 * the object goes back to malloc instead (the slab's allocation path then finds
 * its list empty and mallocs afresh), and ASan reports any later use of it.
 */
void pyvma_hook_kmem_cache_free(struct kmem_cache *cachep, void *objp)
{
#ifdef PYVMA_ASAN
	(void)cachep;
	free(objp);
#else
	(kmem_cache_free)(cachep, objp);
#endif
}

/* ---- anon_vma_prepare() -------------------------------------------------- */

/*
 * A VMA about to be faulted gets an anon_vma: a neighbour's if
 * find_mergeable_anon_vma() (the tree's) offers one, else a new one, with one
 * anon_vma_chain entry linking it.
 */
int pyvma_hook_anon_vma_prepare(struct vm_area_struct *vma)
{
	struct anon_vma *av;

	if (pyvma_fault(PYVMA_FAULT_ANON_VMA_PREPARE))
		return -ENOMEM;
	av = find_mergeable_anon_vma(vma);
	if (!av)
		av = pyvma_anon_vma_new();
	if (!av || pyvma_vma_add_avc(vma, av))
		return -ENOMEM;
	vma->anon_vma = av;
	return 0;
}

/* ---- the rmap lock registry ------------------------------------------------ */

#define PYVMA_MAX_LOCKS 256
static struct rw_semaphore *pyvma_held[PYVMA_MAX_LOCKS];
static int pyvma_nheld;

static int pyvma_lock_slot(struct rw_semaphore *sem)
{
	int i;

	for (i = 0; i < pyvma_nheld; i++)
		if (pyvma_held[i] == sem)
			return i;
	return -1;
}

void pyvma_hook_lock(struct rw_semaphore *sem)
{
	if (pyvma_lock_slot(sem) >= 0)
		pyvma_bug(__FILE__, __LINE__, "rwsem write-locked twice (deadlock)");
	if (pyvma_nheld == PYVMA_MAX_LOCKS)
		pyvma_bug(__FILE__, __LINE__, "pyvma: too many rwsems held");
	pyvma_held[pyvma_nheld++] = sem;
}

void pyvma_hook_unlock(struct rw_semaphore *sem)
{
	int i = pyvma_lock_slot(sem);

	if (i < 0) {
		pyvma_warn(__FILE__, __LINE__, "rwsem unlocked but not held");
		return;
	}
	pyvma_held[i] = pyvma_held[--pyvma_nheld];
}

int pyvma_locks_held(void) { return pyvma_nheld; }

void pyvma_locks_reset(void)
{
	pyvma_nheld = 0;
	pyvma_all_locks_mutex_reset();	/* a test that BUGged while holding it */
}

int pyvma_hook_mutex(struct mutex *lock, int op)
{
	if (op > 0) {
		if (lock->pyvma_held)
			pyvma_bug(__FILE__, __LINE__, "mutex locked twice (deadlock)");
		lock->pyvma_held = 1;
	} else if (op < 0) {
		if (!lock->pyvma_held)
			pyvma_warn(__FILE__, __LINE__, "mutex unlocked but not held");
		lock->pyvma_held = 0;
	}
	return lock->pyvma_held;
}

int pyvma_anon_vma_locked(struct anon_vma *av, int which)
{
	if (which == 0)
		return pyvma_lock_slot(&av->root->rwsem) >= 0;
	/* mm_take_all_locks()' mark: bit 0 of the root's rb_root */
	return test_bit(0, (unsigned long *)&av->root->rb_root.rb_root.rb_node);
}

/* ---- files ----------------------------------------------------------------- */

struct pyvma_file_behaviour {
	int err;
	unsigned long set_flags, clear_flags;
	int ops;		/* PYVMA_OPS_* bits; -1: leave; -2: NULL (mmap_prepare) */
	long move_start;
	struct file *swap_file;
	long pgoff_delta;
	int hide_rmap;
	int mmap_calls, prepare_calls;
};

static struct pyvma_file_behaviour *pyvma_beh(struct file *f)
{
	if (!f->pyvma_beh) {
		f->pyvma_beh = calloc(1, sizeof(*f->pyvma_beh));
		if (f->pyvma_beh)
			f->pyvma_beh->ops = -1;
	}
	return f->pyvma_beh;
}

struct file *pyvma_hook_get_file(struct file *f)
{
	f->f_count.counter++;
	return f;
}

void pyvma_hook_fput(struct file *f)
{
	f->f_count.counter--;
}

int pyvma_hook_mapping_map_writable(struct address_space *mapping)
{
	if (atomic_read(&mapping->i_mmap_writable) < 0)
		return -EPERM;
	atomic_inc(&mapping->i_mmap_writable);
	return 0;
}

void pyvma_hook_mapping_unmap_writable(struct address_space *mapping)
{
	atomic_set(&mapping->i_mmap_writable, atomic_read(&mapping->i_mmap_writable) - 1);
}

bool pyvma_hook_mapping_can_writeback(struct address_space *mapping)
{
	return mapping->pyvma_can_writeback;
}

void pyvma_hook_i_mmap(struct address_space *mapping, int delta)
{
	mapping->pyvma_i_mmap_vmas += delta;
}

void pyvma_hook_i_mmap_root(struct rb_root_cached *root, int delta)
{
	pyvma_hook_i_mmap(container_of(root, struct address_space, i_mmap), delta);
}

static const struct vm_operations_struct *pyvma_ops_of(int bits);

static void pyvma_set_word(struct vm_area_struct *vma, unsigned long set, unsigned long clear)
{
	vm_flags_init(vma, (vma->vm_flags | set) & ~clear);
}

/* The harness ->mmap: what the test asked the "driver" to do. */
static int pyvma_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct pyvma_file_behaviour *b = pyvma_beh(file);

	b->mmap_calls++;
	if (b->err)
		return b->err;
	pyvma_set_word(vma, b->set_flags, b->clear_flags);
	if (b->ops >= 0)
		vma->vm_ops = pyvma_ops_of(b->ops);
	vma->vm_start += b->move_start;
	return 0;
}

/* The harness ->mmap_prepare: the same, on the VMA descriptor. */
static int pyvma_file_mmap_prepare(struct vm_area_desc *desc)
{
#if defined(PYVMA_DESC_HAS_vm_file)
	struct pyvma_file_behaviour *b = pyvma_beh(desc->vm_file);

	b->prepare_calls++;
	if (b->err)
		return b->err;
#if defined(PYVMA_DESC_HAS_vma_flags)
	desc->vma_flags.__vma_flags[0] |= b->set_flags;
	desc->vma_flags.__vma_flags[0] &= ~b->clear_flags;
#elif defined(PYVMA_DESC_HAS_vm_flags)
	desc->vm_flags = (desc->vm_flags | b->set_flags) & ~b->clear_flags;
#endif
	if (b->ops >= 0)
		desc->vm_ops = pyvma_ops_of(b->ops);
	else if (b->ops == -2)
		desc->vm_ops = NULL;
	desc->pgoff += b->pgoff_delta;
	desc->private_data = b;
#if defined(PYVMA_DESC_HAS_action)
	desc->action.hide_from_rmap_until_complete = b->hide_rmap;
#endif
	if (b->swap_file)
		desc->vm_file = b->swap_file;
	return 0;
#else
	return -ENOSYS;
#endif
}

void pyvma_file_set(struct file *f, int which, long value)
{
	struct pyvma_file_behaviour *b = pyvma_beh(f);

	switch (which) {
	case PYVMA_FILE_MMAP:
		f->pyvma_fops.mmap = value ? pyvma_file_mmap : NULL;
		break;
	case PYVMA_FILE_MMAP_PREPARE:
		f->pyvma_fops.mmap_prepare = value ? pyvma_file_mmap_prepare : NULL;
		break;
	case PYVMA_FILE_ERR: b->err = value; break;
	case PYVMA_FILE_SET_FLAGS: b->set_flags = value; break;
	case PYVMA_FILE_CLEAR_FLAGS: b->clear_flags = value; break;
	case PYVMA_FILE_OPS: b->ops = value; break;
	case PYVMA_FILE_MOVE_START: b->move_start = value; break;
	case PYVMA_FILE_SWAP: b->swap_file = (struct file *)value; break;
	case PYVMA_FILE_PGOFF_DELTA: b->pgoff_delta = value; break;
	case PYVMA_FILE_CAN_WRITEBACK: f->f_mapping->pyvma_can_writeback = !!value; break;
	case PYVMA_FILE_WRITABLE: atomic_set(&f->f_mapping->i_mmap_writable, value); break;
	case PYVMA_FILE_HIDE_RMAP: b->hide_rmap = !!value; break;
	}
}

long pyvma_file_stat(struct file *f, int which)
{
	struct address_space *m = f->f_mapping;

	switch (which) {
	case PYVMA_FILE_REFS: return f->f_count.counter;
	case PYVMA_FILE_WRITABLE: return atomic_read(&m->i_mmap_writable);
	case PYVMA_FILE_CAN_WRITEBACK: return m->pyvma_can_writeback;
	case PYVMA_FILE_I_MMAP_VMAS: return m->pyvma_i_mmap_vmas;
	case PYVMA_FILE_I_MMAP_LOCKED: return pyvma_lock_slot(&m->i_mmap_rwsem) >= 0;
	case PYVMA_FILE_ALL_LOCKS: return test_bit(AS_MM_ALL_LOCKS, &m->flags);
	case PYVMA_FILE_MMAP_CALLS: return pyvma_beh(f)->mmap_calls;
	case PYVMA_FILE_PREPARE_CALLS: return pyvma_beh(f)->prepare_calls;
	}
	return -1;
}

/* ---- harness vm_operations ------------------------------------------------- */

static long pyvma_opens, pyvma_may_splits;
static int pyvma_may_split_err;
static struct vm_operations_struct pyvma_ops_table[PYVMA_OPS_ALL + 1];

static void pyvma_op_open(struct vm_area_struct *vma) { pyvma_opens++; }

static int pyvma_op_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	pyvma_may_splits++;
	return pyvma_may_split_err;
}

static long pyvma_op_mkwrite(void *vmf) { return 0; }

static const struct vm_operations_struct *pyvma_ops_of(int bits)
{
	struct vm_operations_struct *ops = &pyvma_ops_table[bits & PYVMA_OPS_ALL];

	if (bits & PYVMA_OPS_OPEN)
		ops->open = pyvma_op_open;
	if (bits & PYVMA_OPS_CLOSE)
		ops->close = pyvma_dummy_close;
	if (bits & PYVMA_OPS_MAY_SPLIT)
		ops->may_split = pyvma_op_may_split;
	if (bits & PYVMA_OPS_PAGE_MKWRITE)
		ops->page_mkwrite = (__typeof__(ops->page_mkwrite))(void *)pyvma_op_mkwrite;
	if (bits & PYVMA_OPS_PFN_MKWRITE)
		ops->pfn_mkwrite = (__typeof__(ops->pfn_mkwrite))(void *)pyvma_op_mkwrite;
	return ops;
}

void pyvma_vma_set_ops(struct vm_area_struct *vma, int bits)
{
	vma->vm_ops = bits < 0 ? NULL : pyvma_ops_of(bits);
}

/* The PYVMA_OPS_* bits of the harness ops the VMA has; -1 for other ops or none. */
int pyvma_vma_get_ops(struct vm_area_struct *vma)
{
	const struct vm_operations_struct *ops = vma->vm_ops;

	if (ops >= pyvma_ops_table && ops <= &pyvma_ops_table[PYVMA_OPS_ALL])
		return (int)(ops - pyvma_ops_table);
	return -1;
}

long pyvma_ops_stat(int which)
{
	switch (which) {
	case PYVMA_OPS_STAT_OPEN: return pyvma_opens;
	case PYVMA_OPS_STAT_CLOSE: return pyvma_closes;
	case PYVMA_OPS_STAT_MAY_SPLIT: return pyvma_may_splits;
	}
	return -1;
}

void pyvma_ops_reset(void)
{
	pyvma_opens = pyvma_may_splits = pyvma_closes = 0;
	pyvma_may_split_err = 0;
}

void pyvma_set_may_split_err(int err) { pyvma_may_split_err = err; }

/* The anonymous page offset where the tree keeps one apart from vm_pgoff; -1
 * elsewhere. */
int pyvma_vma_set_anon_pgoff(struct vm_area_struct *vma, unsigned long pgoff)
{
#ifdef PYVMA_HAS_FN_vma_set_anon_pgoff
	vma_set_anon_pgoff(vma, pgoff);
	return 0;
#else
	(void)vma; (void)pgoff;
	return -1;
#endif
}

void pyvma_vma_set_page_prot(struct vm_area_struct *vma, unsigned long prot)
{
	vma->vm_page_prot = __pgprot(prot);
}

int pyvma_vma_is_anonymous(struct vm_area_struct *vma)
{
	return vma_is_anonymous(vma);
}

void *pyvma_vma_private(struct vm_area_struct *vma)
{
	return vma->vm_private_data;
}

/* ---- free_pgtables(): the rmap side ----------------------------------------- */

/*
 * Page tables are not modelled; what free_pgtables() does to the VMAs it frees
 * the tables under is: unlink them from their anon_vmas and from their files'
 * rmap trees, the latter batched through mm/vma.c's unlink_file_vma_batch_*().
 */
#if defined(PYVMA_NARGS_unmap_region) && PYVMA_NARGS_unmap_region == 1
void pyvma_hook_free_pgtables(struct unmap_desc *unmap)
{
	struct unlink_vma_file_batch vb;
	struct vm_area_struct *vma = unmap->first;

	unlink_file_vma_batch_init(&vb);
	while (vma) {
		unlink_anon_vmas(vma);
		unlink_file_vma_batch_add(&vb, vma);
		vma = mas_find(unmap->mas, unmap->tree_end - 1);
	}
	unlink_file_vma_batch_final(&vb);
}
#else
void pyvma_hook_free_pgtables(struct unmap_desc *unmap) { }
#endif

void pyvma_hook_free_pgtables_mas(struct ma_state *mas, struct vm_area_struct *vma,
				  unsigned long ceiling)
{
#ifdef PYVMA_HAS_FN_unlink_file_vma_batch_add
	struct unlink_vma_file_batch vb;

	unlink_file_vma_batch_init(&vb);
	while (vma) {
		unlink_anon_vmas(vma);
		unlink_file_vma_batch_add(&vb, vma);
		vma = mas_find(mas, ceiling - 1);
	}
	unlink_file_vma_batch_final(&vb);
#endif
}

/* ---- entry points ------------------------------------------------------------ */

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
