/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pyvma: WARN and BUG that report to Python.
 *
 * Found before the tree's tools/include/asm/bug.h on the include path.  Every
 * WARN hit is recorded (site and condition), the *_ONCE forms included, because in
 * one long test process a once-per-site flag would hide all later hits.  A BUG
 * leaves the kernel code through pyvma_bug(), which longjmps back to the glue
 * entry point that Python called.
 */
#ifndef PYVMA_ASM_BUG_H
#define PYVMA_ASM_BUG_H
#define _TOOLS_ASM_BUG_H

#include <linux/compiler.h>
#include <stdio.h>

void pyvma_warn(const char *file, int line, const char *cond);
void pyvma_bug(const char *file, int line, const char *cond) __attribute__((noreturn));

#define PYVMA_WARN_EXPR(condition, text) ({				\
	int __pyvma_hit = !!(condition);				\
	if (__builtin_expect(__pyvma_hit, 0))				\
		pyvma_warn(__FILE__, __LINE__, text);			\
	__pyvma_hit;							\
})

#define WARN_ON(condition)		PYVMA_WARN_EXPR(condition, #condition)
#define WARN_ON_ONCE(condition)		PYVMA_WARN_EXPR(condition, #condition)
#define WARN(condition, format...)	PYVMA_WARN_EXPR(condition, #condition)
#define WARN_ONCE(condition, format...)	PYVMA_WARN_EXPR(condition, #condition)
#define __WARN_printf(arg...)		pyvma_warn(__FILE__, __LINE__, "WARN")

/* BUG() is BUG_ON(1) in tools/include/linux/kernel.h */
#define BUG_ON(condition) ({						\
	if (__builtin_expect(!!(condition), 0))				\
		pyvma_bug(__FILE__, __LINE__, #condition);		\
	0;								\
})

#define VM_WARN_ON(cond)			WARN_ON(cond)
#define VM_WARN_ON_ONCE(cond)			WARN_ON(cond)
#define VM_WARN_ONCE(cond, format...)		WARN_ON(cond)
#define VM_WARN(cond, format...)		WARN_ON(cond)
#define VM_WARN_ON_VMA(cond, vma)		WARN_ON(cond)
#define VM_WARN_ON_ONCE_VMA(cond, vma)		WARN_ON(cond)
#define VM_WARN_ON_MM(cond, mm)			WARN_ON(cond)
#define VM_WARN_ON_ONCE_MM(cond, mm)		WARN_ON(cond)
#define VM_WARN_ON_VMG(cond, vmg)		WARN_ON(cond)
#define VM_WARN_ON_FOLIO(cond, folio)		WARN_ON(cond)
#define VM_WARN_ON_ONCE_FOLIO(cond, folio)	WARN_ON(cond)
#define VM_WARN_ON_ONCE_PAGE(cond, page)	WARN_ON(cond)
#define VM_BUG_ON(cond)				BUG_ON(cond)
#define VM_BUG_ON_VMA(cond, vma)		BUG_ON(cond)
#define VM_BUG_ON_MM(cond, mm)			BUG_ON(cond)
#define VM_BUG_ON_FOLIO(cond, folio)		BUG_ON(cond)
#define VM_BUG_ON_PAGE(cond, page)		BUG_ON(cond)
#define VM_WARN_ON_IRQS_ENABLED()		do { } while (0)

#endif
