/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pyvma prelude: the userland ground the generated shim stands on.
 *
 * Generic kernel API comes from the tree's own tools/include and
 * tools/testing/shared (userland versions of list, atomic, bitmap, slab, maple
 * tree, rwsem); WARN/BUG come from our asm/bug.h.  Everything VMA-specific is
 * extracted from the tree by vma_internal/ and placed after this file.
 */
#ifndef PYVMA_PRELUDE_H
#define PYVMA_PRELUDE_H

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <stdbool.h>
#include <setjmp.h>
#include <pthread.h>
#include <generated/autoconf.h>

#ifdef __CONCAT
#undef __CONCAT
#endif

/* an ASan build (the glue hands slab frees back to malloc so ASan sees them) */
#ifdef __SANITIZE_ADDRESS__
#define PYVMA_ASAN 1
#endif

/* WARN/BUG first: everything below must see ours. */
#include <asm/bug.h>
/* basic types and bit operations */
#include <linux/bitops.h>
#include <linux/atomic.h>
#include <linux/refcount.h>
#include <linux/overflow.h>
#include <linux/err.h>
#include <linux/args.h>
/* containers */
#include <linux/list.h>
#include <linux/rbtree.h>
#include <linux/bitmap.h>
#include <linux/maple_tree.h>
/* memory and locks, userland versions */
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/rwsem.h>
#include <linux/mutex.h>

#endif
