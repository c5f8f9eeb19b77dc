# SPDX-License-Identifier: GPL-2.0-or-later
"""What the shim takes from a tree, what it stubs, and what it leaves to csrc/.

Names only: every definition's text is read from the tree under test at build
time.  Kernel-version differences belong in the extraction, not here; entries
that a tree lacks are simply not found.
"""
from __future__ import annotations

# Headers indexed besides those the tree's own mm/vma_internal.h includes.
EXTRA_HEADERS: tuple[str, ...] = (
    "include/linux/mm_types_task.h",
    "include/linux/mmap_lock.h",
    "include/linux/mm_inline.h",
    "include/linux/mmdebug.h",
    "include/linux/vmstat.h",
    "include/linux/sched/coredump.h",
    "include/linux/sched/mm.h",
    "include/linux/mman.h",
    "include/uapi/asm-generic/mman-common.h",
    "include/uapi/linux/mman.h",
    "include/linux/pgtable.h",
    "include/linux/types.h",
    "include/linux/fs.h",
    "include/linux/mm_types.h",
    "include/linux/page-flags-layout.h",
    "include/linux/rmap.h",
    "include/linux/ksm.h",
    "include/linux/khugepaged.h",
    "include/linux/userfaultfd_k.h",
    "include/linux/hugetlb_inline.h",
    "include/linux/mempolicy.h",
    "include/linux/pagemap.h",
    "include/linux/security.h",
    "include/linux/cred.h",
    "include/linux/capability.h",
    "include/linux/resource.h",
    "include/uapi/asm-generic/resource.h",
    "include/linux/perf_event.h",
    "include/linux/uprobes.h",
    "include/linux/personality.h",
    "include/linux/rcupdate.h",
    "include/linux/sched/signal.h",
    "include/linux/backing-dev.h",
    "include/linux/file.h",
    "include/linux/mm.h",
    "include/linux/kref.h",
    # nodemask_t (struct mempolicy, CONFIG_NUMA=y)
    "include/linux/nodemask_types.h",
    "include/linux/nodemask.h",
    # shmem_zero_setup() (__mmap_region(): a shared anonymous mapping), which 6.12's
    # mm/vma_internal.h does not include (its mm/mmap.c does)
    "include/linux/shmem_fs.h",
)

# Types whose presence the generated shim announces as PYVMA_HAS_TYPE_<name>, for
# csrc/override.h members that only some trees have.
OPTIONAL_TYPES: tuple[str, ...] = ("vma_flags_t", "mm_flags_t")

# Extra roots: names the Python API reads from every tree that has them (flags and
# masks), so they are extracted even when mm/vma.c does not use them.
API_ROOTS: tuple[str, ...] = (
    "VM_NONE", "VM_READ", "VM_WRITE", "VM_EXEC", "VM_SHARED", "VM_MAYREAD", "VM_MAYWRITE",
    "VM_MAYEXEC", "VM_MAYSHARE", "VM_GROWSDOWN", "VM_UFFD_MISSING", "VM_PFNMAP",
    "VM_MAYBE_GUARD", "VM_UFFD_WP", "VM_LOCKED", "VM_IO", "VM_SEQ_READ", "VM_RAND_READ",
    "VM_DONTCOPY", "VM_DONTEXPAND", "VM_LOCKONFAULT", "VM_ACCOUNT", "VM_NORESERVE",
    "VM_HUGETLB", "VM_SYNC", "VM_WIPEONFORK", "VM_DONTDUMP", "VM_SOFTDIRTY", "VM_MIXEDMAP",
    "VM_HUGEPAGE", "VM_NOHUGEPAGE", "VM_MERGEABLE", "VM_UFFD_MINOR", "VM_SEALED",
    "VM_DROPPABLE", "VM_STICKY", "VM_IGNORE_MERGE", "VM_COPY_ON_FORK", "VM_SPECIAL",
    "VMA_STICKY_FLAGS", "VMA_IGNORE_MERGE_FLAGS", "VM_ACCESS_FLAGS", "VM_STACK",
    "VM_LOCKED_MASK", "VM_UFFD_RWP", "VM_STACK_INCOMPLETE_SETUP",
    "VMA_SPECIAL_FLAGS", "VMA_REMAP_FLAGS",
)

# The flag names the API knows (bit names are found per tree from these).
FLAG_NAMES: tuple[str, ...] = tuple(n for n in API_ROOTS if n.startswith("VM_") and n not in (
    "VM_NONE", "VM_STICKY", "VM_IGNORE_MERGE", "VM_COPY_ON_FORK", "VM_SPECIAL",
    "VM_ACCESS_FLAGS", "VM_LOCKED_MASK", "VM_STACK"))

# Masks the API exposes by name.
MASK_NAMES: tuple[str, ...] = (
    "VM_STICKY", "VM_IGNORE_MERGE", "VM_COPY_ON_FORK", "VM_SPECIAL", "VM_ACCESS_FLAGS",
    "VMA_STICKY_FLAGS", "VMA_IGNORE_MERGE_FLAGS", "VM_LOCKED_MASK",
    "VMA_SPECIAL_FLAGS", "VMA_REMAP_FLAGS",
)

# Kernel services stubbed even where the tree has an inline body: their real
# bodies reach into page tables, RCU, scheduler or perf state the harness has not.
FORCE_STUB: frozenset[str] = frozenset({
    "vma_start_write", "vma_start_write_killable", "__vma_start_write", "vma_assert_write_locked",
    "vma_assert_locked", "vma_mark_detached", "vma_mark_attached", "vma_assert_attached",
    "vma_assert_detached", "vma_refcount_put", "vma_end_read", "mmap_assert_locked",
    "mmap_assert_write_locked", "mmap_write_lock", "mmap_write_unlock", "mmap_read_lock",
    "mmap_read_unlock", "mmap_write_downgrade", "mmap_write_lock_killable",
    "vma_numab_state_init", "vma_numab_state_free", "vma_lockdep_init",
    "mmap_lock_is_contended", "vma_iter_free", "mm_flags_test", "khugepaged_enter_vma",
    "uprobe_mmap", "uprobe_munmap", "perf_event_mmap", "ksm_add_vma", "ksm_vma_flags",
    "userfaultfd_unmap_prep", "userfaultfd_unmap_complete", "mpol_put", "mpol_dup",
    "vma_dup_policy", "vma_policy", "lru_add_drain", "tlb_gather_mmu", "tlb_finish_mmu",
    "update_hiwater_rss", "unmap_vmas", "free_pgtables", "flush_dcache_mmap_lock",
    "flush_dcache_mmap_unlock", "i_mmap_lock_write", "i_mmap_unlock_write",
    "anon_vma_lock_write", "anon_vma_unlock_write", "anon_vma_interval_tree_pre_update_vma",
    "anon_vma_interval_tree_post_update_vma", "vma_interval_tree_insert",
    "vma_interval_tree_remove", "uprobe_start_dup_mmap", "uprobe_end_dup_mmap",
    "vm_get_page_prot", "vma_set_page_prot", "mm_flags_set", "mm_flags_clear",
    "get_file", "fput", "security_mmap_addr", "security_vm_enough_memory_mm",
    "vm_unacct_memory", "mapping_map_writable", "mapping_unmap_writable",
    "mutex_lock", "mutex_unlock", "mutex_lock_killable", "mutex_trylock", "mutex_is_locked",
    "signal_pending", "fatal_signal_pending", "rlimit", "task_rlimit", "mapping_can_writeback",
    "pgprot_modify", "vma_pgtable_walk_begin", "vma_pgtable_walk_end",
})

# Return values for stubs where "zero" is the wrong answer for a test harness.
STUB_RETURNS: dict[str, str] = {
    "capable": "true",
    "vma_is_accessible": "true",
    "can_modify_vma": "true",
    "can_modify_mm": "true",
    "mpol_equal": "true",
    "is_mergeable_vm_userfaultfd_ctx": "true",
    "anon_vma_name_eq": "true",
    "task_rlimit": "~0UL",
}

# Structures mm/vma.c reaches into and that the shim takes from the tree as they are
# (others it only points at are forward-declared, or defined in csrc/override.h).
TAG_ROOTS: tuple[str, ...] = (
    "struct vm_area_struct", "struct vma_iterator", "struct vm_operations_struct",
    "struct vm_userfaultfd_ctx", "struct vm_area_desc", "struct mmap_action",
    "struct vm_unmapped_area_info", "struct pagetable_move_control", "struct anon_vma_name",
)

# Stubs whose body calls into the harness (csrc/hooks.c, hooks_file.c) so tests can observe them.
# {0}, {1}… are the stub's parameters, named as in the tree's prototype.
STUB_HOOKS: dict[str, str] = {
    "vma_start_write": "pyvma_hook_start_write({0})",
    "vma_start_write_killable": "pyvma_hook_start_write_killable({0})",
    "fatal_signal_pending": "pyvma_hook_fatal_signal_pending()",
    "mutex_lock_killable": "(pyvma_hook_fatal_signal_pending() ? -EINTR : "
                           "(pyvma_hook_mutex({0}, 1), 0))",
    "anon_vma_clone": "pyvma_hook_anon_vma_clone({0}, {1})",
    "unlink_anon_vmas": "pyvma_hook_unlink_anon_vmas({0})",
    "__anon_vma_prepare": "pyvma_hook_anon_vma_prepare({0})",
    "vm_area_alloc": "pyvma_hook_vm_area_alloc({0})",
    "vm_area_dup": "pyvma_hook_vm_area_dup({0})",
    "vm_area_free": "pyvma_hook_vm_area_free({0})",
    "vma_assert_write_locked": "pyvma_hook_assert_write_locked({0})",
    # KSM adds no flags here: the flags pass through (a zero stub would drop them all)
    "ksm_vma_flags": "{2}",
    # limits and accounting (csrc/hooks.c): RLIMIT_AS / RLIMIT_MEMLOCK /
    # RLIMIT_STACK and an overcommit limit the tests set, and forced failures
    "may_expand_vm": "pyvma_hook_may_expand_vm({0}, {2})",
    "mlock_future_ok": "pyvma_hook_mlock_future_ok({0}, {1}, {2})",
    "rlimit": "pyvma_hook_rlimit({0})",
    "security_vm_enough_memory_mm": "pyvma_hook_vm_enough_memory({0}, {1})",
    "vm_unacct_memory": "pyvma_hook_vm_unacct_memory({0})",
    "signal_pending": "pyvma_hook_signal_pending()",
    # a pending (fatal) signal also fails the killable mmap lock
    "mmap_write_lock_killable": "(pyvma_hook_fatal_signal_pending() ? -EINTR : 0)",
    "userfaultfd_unmap_prep": "pyvma_hook_uffd_unmap_prep()",
    "vma_dup_policy": "pyvma_hook_dup_policy()",
    "shmem_zero_setup": "pyvma_hook_shmem_zero_setup({0})",
    "mmap_action_prepare": "pyvma_hook_mmap_action_prepare()",
    "mmap_action_complete": "pyvma_hook_mmap_action_complete({0}, {1})",
    "mm_flags_test": "pyvma_hook_mm_flags_test({0}, {1})",
    # files: reference counts, writable mappings, i_mmap membership, writeback
    "get_file": "pyvma_hook_get_file({0})",
    "fput": "pyvma_hook_fput({0})",
    "mapping_map_writable": "pyvma_hook_mapping_map_writable({0})",
    "mapping_unmap_writable": "pyvma_hook_mapping_unmap_writable({0})",
    "mapping_can_writeback": "pyvma_hook_mapping_can_writeback({0})",
    "mapping_rmap_tree_insert": "pyvma_hook_i_mmap({1}, 1)",
    "mapping_rmap_tree_remove": "pyvma_hook_i_mmap({1}, -1)",
    "vma_interval_tree_insert": "pyvma_hook_i_mmap_root({1}, 1)",
    "vma_interval_tree_remove": "pyvma_hook_i_mmap_root({1}, -1)",
    # rmap locks: held/released in a registry (a second write lock is a deadlock)
    "i_mmap_lock_write": "pyvma_hook_lock(&({0})->i_mmap_rwsem)",
    "i_mmap_unlock_write": "pyvma_hook_unlock(&({0})->i_mmap_rwsem)",
    "anon_vma_lock_write": "pyvma_hook_lock(&({0})->root->rwsem)",
    "anon_vma_unlock_write": "pyvma_hook_unlock(&({0})->root->rwsem)",
    # mm_all_locks_mutex: held or not (mm_drop_all_locks() BUG_ONs on it)
    "mutex_lock": "pyvma_hook_mutex({0}, 1)",
    "mutex_unlock": "pyvma_hook_mutex({0}, -1)",
    "mutex_is_locked": "pyvma_hook_mutex({0}, 0)",
}

# Hooks found by what a function is, not by its name: a stub with no hook of its own
# whose name matches the pattern and whose parameter types are these gets the hook.
# A patch that renames a hooked function (v1 of the 2026 pgoff series renamed
# vma_interval_tree_*() to mapping_interval_tree_*()) keeps its hook this way.
# (name pattern, parameter types, hook) -- the i_mmap tree a file's VMAs live in:
HOOK_SIGNATURES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (r"\w*_tree_insert", ("struct vm_area_struct *", "struct address_space *"),
     "pyvma_hook_i_mmap({1}, 1)"),
    (r"\w*_tree_remove", ("struct vm_area_struct *", "struct address_space *"),
     "pyvma_hook_i_mmap({1}, -1)"),
    (r"\w*_tree_insert", ("struct vm_area_struct *", "struct rb_root_cached *"),
     "pyvma_hook_i_mmap_root({1}, 1)"),
    (r"\w*_tree_remove", ("struct vm_area_struct *", "struct rb_root_cached *"),
     "pyvma_hook_i_mmap_root({1}, -1)"),
)

# Stub hooks whose call depends on the prototype's parameter count (the trees'
# signatures differ); a tree whose count is not listed gets a plain stub.
STUB_HOOKS_BY_ARITY: dict[str, dict[int, str]] = {
    # page tables are freed VMA by VMA: the rmap unlinking of free_pgtables()
    "free_pgtables": {2: "pyvma_hook_free_pgtables({1})",
                      6: "pyvma_hook_free_pgtables_mas({1}, {2}, {4})"},
    # exec's stack relocation (mm/vma_exec.c) moves all it is asked to: the page
    # tables the harness has none of (a zero stub fails relocate_vma_down())
    "move_page_tables": {1: "(({0})->len_in)",
                         # 6.12 (vma, old_addr, new_vma, new_addr, len, need_rmap_locks,
                         # for_stack): relocate_vma_down() in its mm/mmap.c
                         7: "({4})"},
}

# Inline helpers of the tree's mm/vma.h that the harness interposes on: after the
# shim includes vma.h (and before mm/vma.c), every call of the helper goes to the
# named hook in csrc/ instead, which calls the tree's own helper as ``(name)(...)``
# unless a test forces a failure (upstream's fail_prealloc).
LOCAL_WRAPS: dict[str, str] = {
    "vma_iter_prealloc": "pyvma_hook_iter_prealloc",
    # maple tree stores that allocate (forced failure "mas_store")
    "mas_store_gfp": "pyvma_hook_mas_store_gfp",
    "vma_iter_store_gfp": "pyvma_hook_iter_store_gfp",
    # the VMA slab (mm/vma_init.c's vm_area_alloc/dup; forced failure "vma_alloc")
    "kmem_cache_alloc": "pyvma_hook_kmem_cache_alloc",
    # ... and its frees (under ASan, objects go back to malloc: see the hook)
    "kmem_cache_free": "pyvma_hook_kmem_cache_free",
}

# Extern variables the tree declares and the harness defines, with their values
# (others are zero).
VAR_VALUES: dict[str, str] = {
    "mmap_min_addr": "4096",
    "dac_mmap_min_addr": "4096",
    "stack_guard_gap": "(256UL << PAGE_SHIFT)",
    "sysctl_max_map_count": "65530",
}

# Kernel functions outside mm/vma*.c that mm/vma.c calls and whose real bodies the
# harness wants (they walk the VMA tree): taken from the named .c file of the tree.
SOURCE_DEFINITIONS: dict[str, tuple[str, ...]] = {
    "mm/mmap.c": ("find_vma_intersection", "find_vma_prev", "find_vma", "vm_stat_account"),
}

# Entry points a tree keeps outside mm/vma*.c (6.12 keeps them in mm/mmap.c; later
# trees moved them into mm/vma.c; 7.2 still keeps __install_special_mapping() there).
# Each one a tree's mm/vma*.c does not define is extracted from the named file, with
# the static helpers, macros and data of that file it reaches, into a translation
# unit of its own (vma_internal/outside.py); a static one is made global there so the
# glue can call it.  Functions of the file the manifest stubs or hooks (may_expand_vm,
# vma_set_page_prot, ...) or takes into the shim (SOURCE_DEFINITIONS) are not taken.
OUTSIDE_ENTRY_POINTS: dict[str, tuple[str, ...]] = {
    "mm/mmap.c": ("mmap_region", "__mmap_region", "do_brk_flags", "expand_downwards",
                  "__install_special_mapping", "insert_vm_struct", "vma_wants_writenotify",
                  "vma_needs_dirty_tracking", "unmapped_area", "unmapped_area_topdown",
                  "__vm_munmap", "relocate_vma_down"),
}

# Helpers whose real bodies the harness relies on: if one does not compile against
# the shim, the build stops instead of demoting it to a stub.
NEVER_DEMOTE: frozenset[str] = frozenset({
    "vm_flags_init", "vm_flags_reset", "vm_flags_set", "vm_flags_clear", "vma_flags_set_word",
    "find_vma_prev", "find_vma_intersection", "vma_start_pgoff", "vma_start_anon_pgoff",
    "vma_pages", "vma_is_anonymous", "vma_close", "vma_next", "vma_prev", "vma_iter_init",
    "vma_iter_set",
})
