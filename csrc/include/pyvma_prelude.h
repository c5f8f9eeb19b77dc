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

#include <asm/bug.h>
#include <linux/args.h>
#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/list.h>
#include <linux/maple_tree.h>
#include <linux/mm.h>
#include <linux/rbtree.h>
#include <linux/refcount.h>
#include <linux/slab.h>
#include <linux/rwsem.h>
#include <linux/mutex.h>
#include <linux/err.h>
#include <linux/bitops.h>
#include <linux/overflow.h>

#endif
