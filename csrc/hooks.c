// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma hooks: the pyvma_hook_* functions the generated shim's stubs call in place
 * of the kernel services mm/vma.c uses (manifest.py binds each to its kernel
 * names; csrc/override.h declares them).  They call only the runtime
 * (runtime.c: forced failures, limits, anon_vma accounting, WARN/BUG) and the
 * tree's own code; see pyvma_internal.h for the layer order.
 *
 *  - VMA write locks, VMA slab (alloc / dup / free), anon_vma clone / unlink;
 *  - anon_vma_prepare(): the anon_vmas and anon_vma_chain entries kernel code
 *    makes (and the allocators the object layer uses for the ones Python makes);
 *  - limits and accounting: may_expand_vm(), mlock_future_ok(), rlimit(),
 *    overcommit; signals; the other services a test can make fail;
 *  - maple tree stores and the kmem_cache (forced failures, ASan frees);
 *  - the rmap lock registry: i_mmap_rwsem / anon_vma rwsem and mutexes;
 *  - free_pgtables(): the rmap side.
 * The hooks of files and vm_operations are in hooks_file.c.
 */
#include "pyvma_internal.h"

/* ---- VMA write locks ------------------------------------------------------ */

/*
 * Write locks: each operation Python asks for is one mmap write-lock session
 * (pyvma_mm_begin_op() opens it).  vma_start_write() marks the VMA with the
 * session, as the kernel marks it with mm->mm_lock_seq; a lock from an earlier
 * session no longer counts, as after mmap_write_unlock().
 */
void pyvma_hook_start_write(struct vm_area_struct *vma)
{
	vma->vm_lock_seq = vma->vm_mm->pyvma_lock_session;
}

void pyvma_hook_assert_write_locked(struct vm_area_struct *vma)
{
	WARN_ON(vma->vm_lock_seq != vma->vm_mm->pyvma_lock_session);
}

/*
 * A fatal signal (SIGKILL) pending: fatal_signal_pending() is true and every killable
 * wait fails with -EINTR (as if the lock had been contended when the signal came).
 */
int pyvma_hook_fatal_signal_pending(void)
{
	return pyvma_fault(PYVMA_FAULT_FATAL_SIGNAL);
}

int pyvma_hook_signal_pending(void)
{
	/* a pending fatal signal is a pending signal too */
	return pyvma_fault(PYVMA_FAULT_SIGNAL_PENDING) | pyvma_hook_fatal_signal_pending();
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

/* ---- the VMA slab ---------------------------------------------------------- */

const struct vm_operations_struct pyvma_dummy_vm_ops;

struct vm_area_struct *pyvma_hook_vm_area_alloc(struct mm_struct *mm)
{
	struct vm_area_struct *vma;

	if (pyvma_fault(PYVMA_FAULT_VMA_ALLOC))
		return NULL;
	vma = calloc(1, sizeof(*vma));
	if (!vma)
		return NULL;
	vma->vm_mm = mm;
	vma->vm_ops = &pyvma_dummy_vm_ops;
	INIT_LIST_HEAD(&vma->anon_vma_chain);
	vma->vm_lock_seq = UINT_MAX;
	return vma;
}

struct vm_area_struct *pyvma_hook_vm_area_dup(struct vm_area_struct *orig)
{
	struct vm_area_struct *vma;

	if (pyvma_fault(PYVMA_FAULT_VMA_ALLOC))
		return NULL;
	vma = malloc(sizeof(*vma));
	if (!vma)
		return NULL;
	memcpy(vma, orig, sizeof(*vma));
	INIT_LIST_HEAD(&vma->anon_vma_chain);
	return vma;
}

void pyvma_hook_vm_area_free(struct vm_area_struct *vma)
{
	free(vma);
}

/* ---- anon_vmas and their chains -------------------------------------------- */

int pyvma_hook_anon_vma_clone(struct vm_area_struct *dst, struct vm_area_struct *src)
{
	struct anon_vma_chain *avc;
	int slot;

	if (pyvma_fault(PYVMA_FAULT_ANON_VMA_CLONE)) {
		/* as the real anon_vma_clone() leaves it when it fails */
		dst->anon_vma = NULL;
		return -ENOMEM;
	}
	dst->anon_vma = src->anon_vma;
	if (src->anon_vma && (slot = pyvma_anon_slot(src->anon_vma)) >= 0)
		pyvma_anon[slot].clones++;
	/*
	 * As the kernel's clone does, one chain entry of dst's per entry of src's: a
	 * piece split off a faulted VMA keeps a singular chain (is_mergeable_anon_vma()
	 * reads it; found by pyvma oracle against the running kernel).  A chain a test
	 * gave dst already (upstream's tests give every VMA one entry) is left as it is.
	 */
	if (!list_empty(&dst->anon_vma_chain))
		return 0;
	list_for_each_entry_reverse(avc, &src->anon_vma_chain, same_vma)
		if (pyvma_avc_link(dst, avc->anon_vma))
			return -ENOMEM;
	return 0;
}

void pyvma_hook_unlink_anon_vmas(struct vm_area_struct *vma)
{
	struct anon_vma_chain *avc, *next;
	int slot;

	if (vma->anon_vma && (slot = pyvma_anon_slot(vma->anon_vma)) >= 0)
		pyvma_anon[slot].unlinks++;
	/* the entries themselves are freed with their mm (pyvma_avcs_free) */
	list_for_each_entry_safe(avc, next, &vma->anon_vma_chain, same_vma)
		list_del_init(&avc->same_vma);
}

/* A new anon_vma, recorded unpinned: it lives while a VMA refers to it (or
 * Python pins it). */
struct anon_vma *pyvma_anon_vma_alloc(void)
{
	struct anon_vma *av = calloc(1, sizeof(*av));

	if (!av)
		return NULL;
	if (pyvma_obj_add(av, PYVMA_OBJ_ANON_VMA, 0)) {
		free(av);
		return NULL;
	}
	av->root = av;
	return av;
}

/* One anon_vma_chain entry linking @vma to @av (upstream tests give each VMA one). */
#define PYVMA_MAX_AVC 1024
static struct { struct anon_vma_chain *avc; struct mm_struct *mm; } pyvma_avcs[PYVMA_MAX_AVC];

int pyvma_avc_link(struct vm_area_struct *vma, struct anon_vma *av)
{
	int i;

	for (i = 0; i < PYVMA_MAX_AVC; i++) {
		if (!pyvma_avcs[i].avc) {
			struct anon_vma_chain *avc = calloc(1, sizeof(*avc));

			if (!avc)
				return -ENOMEM;
			avc->vma = vma;
			avc->anon_vma = av;
			list_add(&avc->same_vma, &vma->anon_vma_chain);
			pyvma_avcs[i].avc = avc;
			pyvma_avcs[i].mm = vma->vm_mm;
			return 0;
		}
	}
	return -ENOSPC;
}

void pyvma_avcs_free(struct mm_struct *mm)
{
	int i;

	for (i = 0; i < PYVMA_MAX_AVC; i++) {
		if (pyvma_avcs[i].avc && pyvma_avcs[i].mm == mm) {
			free(pyvma_avcs[i].avc);
			pyvma_avcs[i].avc = NULL;
		}
	}
}

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
		av = pyvma_anon_vma_alloc();
	if (!av || pyvma_avc_link(vma, av))
		return -ENOMEM;
	vma->anon_vma = av;
	return 0;
}

/* ---- limits, accounting and the services a test can make fail ------------ */

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

/* ---- maple tree stores and the VMA slab (forced failures) ---------------- */

/* Every vma_iter_prealloc() of the tree's code comes here (manifest.LOCAL_WRAPS). */
int pyvma_hook_iter_prealloc(struct vma_iterator *vmi, struct vm_area_struct *vma)
{
	if (pyvma_fault(PYVMA_FAULT_PREALLOC))
		return -ENOMEM;
#ifdef PYVMA_HAS_FN_vma_iter_prealloc
	return (vma_iter_prealloc)(vmi, vma);
#else
	return -ENOSYS;
#endif
}

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

/* ---- the rmap lock registry ------------------------------------------------ */

#define PYVMA_MAX_LOCKS 256
static struct rw_semaphore *pyvma_held[PYVMA_MAX_LOCKS];
static int pyvma_nheld;

/* Whether @sem is write-held (in the registry). */
int pyvma_lock_held(struct rw_semaphore *sem)
{
	int i;

	for (i = 0; i < pyvma_nheld; i++)
		if (pyvma_held[i] == sem)
			return i;
	return -1;
}

void pyvma_hook_lock(struct rw_semaphore *sem)
{
	if (pyvma_lock_held(sem) >= 0)
		pyvma_bug(__FILE__, __LINE__, "rwsem write-locked twice (deadlock)");
	if (pyvma_nheld == PYVMA_MAX_LOCKS)
		pyvma_bug(__FILE__, __LINE__, "pyvma: too many rwsems held");
	pyvma_held[pyvma_nheld++] = sem;
}

void pyvma_hook_unlock(struct rw_semaphore *sem)
{
	int i = pyvma_lock_held(sem);

	if (i < 0) {
		pyvma_warn(__FILE__, __LINE__, "rwsem unlocked but not held");
		return;
	}
	pyvma_held[i] = pyvma_held[--pyvma_nheld];
}

int pyvma_locks_held(void) { return pyvma_nheld; }

/* The registry emptied (a test that BUGged while holding locks); see pyvma_locks_reset(). */
void pyvma_lock_registry_reset(void)
{
	pyvma_nheld = 0;
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
