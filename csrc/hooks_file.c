// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma hooks of files and vm_operations: what kernel code reaches through a
 * struct file (reference counts, writable mappings, the mapping's rmap tree,
 * writeback, the harness's ->mmap / ->mmap_prepare) and through the harness's
 * vm_operations (open / close / may_split / page_mkwrite / pfn_mkwrite), with
 * the controls a test sets them by and the counts it reads (pyvma_file_set/stat,
 * pyvma_vma_set_ops, pyvma_ops_stat).  Same layer as hooks.c; see
 * pyvma_internal.h for the order.
 */
#include "pyvma_internal.h"

/* ---- harness vm_operations ------------------------------------------------- */

static long pyvma_opens, pyvma_may_splits, pyvma_closes;
static int pyvma_may_split_err;
static struct vm_operations_struct pyvma_ops_table[PYVMA_OPS_ALL + 1];

static void pyvma_op_open(struct vm_area_struct *vma) { pyvma_opens++; }

static void pyvma_op_close(struct vm_area_struct *vma)
{
	pyvma_closes++;
}

/* The ops with ->close only (pyvma_vma_set_vm_ops(vma, 2)) */
const struct vm_operations_struct pyvma_close_vm_ops = {
	.close = pyvma_op_close,
};

static int pyvma_op_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	pyvma_may_splits++;
	return pyvma_may_split_err;
}

static long pyvma_op_mkwrite(void *vmf) { return 0; }

/* The harness ops with the PYVMA_OPS_* callbacks in @bits (one table per set). */
const struct vm_operations_struct *pyvma_ops_of(int bits)
{
	struct vm_operations_struct *ops = &pyvma_ops_table[bits & PYVMA_OPS_ALL];

	if (bits & PYVMA_OPS_OPEN)
		ops->open = pyvma_op_open;
	if (bits & PYVMA_OPS_CLOSE)
		ops->close = pyvma_op_close;
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

int pyvma_close_count(void) { return pyvma_closes; }

void pyvma_ops_reset(void)
{
	pyvma_opens = pyvma_may_splits = pyvma_closes = 0;
	pyvma_may_split_err = 0;
}

void pyvma_set_may_split_err(int err) { pyvma_may_split_err = err; }

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
	case PYVMA_FILE_I_MMAP_LOCKED: return pyvma_lock_held(&m->i_mmap_rwsem) >= 0;
	case PYVMA_FILE_ALL_LOCKS: return test_bit(AS_MM_ALL_LOCKS, &m->flags);
	case PYVMA_FILE_MMAP_CALLS: return pyvma_beh(f)->mmap_calls;
	case PYVMA_FILE_PREPARE_CALLS: return pyvma_beh(f)->prepare_calls;
	}
	return -1;
}
