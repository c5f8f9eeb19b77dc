// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma runtime: the state every other glue file records into or reads; it
 * calls no other glue file (the bottom layer; see pyvma_internal.h for the
 * order):
 *
 *  - WARN/BUG records: pyvma_warn()/pyvma_bug() (the tree's WARN_ON()/BUG_ON()
 *    come here through csrc/include/asm/bug.h) and the jump buffer of the entry
 *    point a BUG returns to;
 *  - forced failures: which kernel service fails next (PYVMA_FAULT_*);
 *  - limits and accounting: the rlimits and the overcommit counter the hooks
 *    check and charge;
 *  - per-anon_vma accounting (clones, unlinks) beside the kernel's struct;
 *  - the one-time initialisation of the tree's globals, and `current`.
 */
#include "pyvma_internal.h"

struct task_struct pyvma_current_task = { .comm = "pyvma" };

void pyvma_once(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	pyvma_init_vars();
	maple_tree_init();
#ifdef PYVMA_HAS_SOURCE_vma_init_c
	vma_state_init();
#endif
}

/* ---- WARN / BUG records ------------------------------------------------ */

#define PYVMA_MAX_SITES 256
static struct pyvma_site pyvma_warns[PYVMA_MAX_SITES];
static int pyvma_nwarn;
static struct pyvma_site pyvma_last_bug;
static int pyvma_nbug;
jmp_buf *pyvma_jb;

/* With an isolated test, WARNs also go straight to a file descriptor, so that
 * the parent still has them if kernel code then crashes the child. */
static int pyvma_warn_fd = -1;

void pyvma_set_warn_fd(int fd)
{
	pyvma_warn_fd = fd;
}

void pyvma_warn(const char *file, int line, const char *cond)
{
	if (pyvma_warn_fd >= 0)
		dprintf(pyvma_warn_fd, "WARN %s:%d: %s\n", file, line, cond);
	if (pyvma_nwarn < PYVMA_MAX_SITES) {
		pyvma_warns[pyvma_nwarn].file = file;
		pyvma_warns[pyvma_nwarn].line = line;
		pyvma_warns[pyvma_nwarn].cond = cond;
	}
	pyvma_nwarn++;
}

void pyvma_bug(const char *file, int line, const char *cond)
{
	if (pyvma_warn_fd >= 0)
		dprintf(pyvma_warn_fd, "BUG %s:%d: %s\n", file, line, cond);
	pyvma_last_bug.file = file;
	pyvma_last_bug.line = line;
	pyvma_last_bug.cond = cond;
	pyvma_nbug++;
	if (pyvma_jb)
		longjmp(*pyvma_jb, 1);
	fprintf(stderr, "pyvma: BUG at %s:%d: %s (no entry point to return to)\n", file, line, cond);
	abort();
}

int pyvma_warn_count(void) { return pyvma_nwarn; }
int pyvma_warn_get(int i, struct pyvma_site *out)
{
	if (i < 0 || i >= pyvma_nwarn || i >= PYVMA_MAX_SITES)
		return -1;
	*out = pyvma_warns[i];
	return 0;
}
void pyvma_warn_clear(void) { pyvma_nwarn = 0; }
int pyvma_bug_get(struct pyvma_site *out) { *out = pyvma_last_bug; return pyvma_nbug; }
void pyvma_bug_clear(void) { pyvma_nbug = 0; }

/* ---- forced failures ---------------------------------------------------- */

/*
 * One entry per kernel service a test can make fail (PYVMA_FAULT_*): once armed,
 * the first @skip calls go through, then @times calls fail (0: every call until
 * disarmed).  Calls and failures are counted whether armed or not.
 */
static struct { int armed; long skip, times, calls, hits; } pyvma_faults[PYVMA_NFAULTS];

int pyvma_fault(int site)
{
	typeof(&pyvma_faults[0]) f = &pyvma_faults[site];

	f->calls++;
	if (!f->armed)
		return 0;
	if (f->skip > 0) {
		f->skip--;
		return 0;
	}
	f->hits++;
	if (f->times > 0 && --f->times == 0)
		f->armed = 0;
	return 1;
}

void pyvma_fault_set(int site, int armed, long skip, long times)
{
	if (site < 0 || site >= PYVMA_NFAULTS)
		return;
	pyvma_faults[site].armed = armed;
	pyvma_faults[site].skip = skip;
	pyvma_faults[site].times = times;
}

long pyvma_fault_stat(int site, int which)
{
	if (site < 0 || site >= PYVMA_NFAULTS)
		return -1;
	return which ? pyvma_faults[site].hits : pyvma_faults[site].calls;
}

void pyvma_fault_reset(void)
{
	memset(pyvma_faults, 0, sizeof(pyvma_faults));
}

void pyvma_set_fail_clone(int fail) { pyvma_fault_set(PYVMA_FAULT_ANON_VMA_CLONE, fail, 0, 0); }
void pyvma_set_fail_prealloc(int fail) { pyvma_fault_set(PYVMA_FAULT_PREALLOC, fail, 0, 0); }

/* ---- limits and accounting ----------------------------------------------- */

unsigned long pyvma_limits[PYVMA_NLIMITS] = { ~0UL, ~0UL, ~0UL, ~0UL };
long pyvma_committed_pages;
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

/* ---- per-anon_vma accounting ---------------------------------------------- */

/* Per-anon_vma accounting lives beside the kernel's struct (which lacks it). */
struct pyvma_anon_rec pyvma_anon[PYVMA_MAX_ANON];
static int pyvma_nanon;

int pyvma_anon_slot(struct anon_vma *av)
{
	int i;

	for (i = 0; i < pyvma_nanon; i++)
		if (pyvma_anon[i].av == av)
			return i;
	if (pyvma_nanon == PYVMA_MAX_ANON)
		return -1;
	pyvma_anon[pyvma_nanon].av = av;
	pyvma_anon[pyvma_nanon].clones = pyvma_anon[pyvma_nanon].unlinks = 0;
	return pyvma_nanon++;
}

int pyvma_anon_vma_stats(struct anon_vma *av, int *clones, int *unlinks)
{
	int slot = pyvma_anon_slot(av);

	if (slot < 0)
		return -1;
	*clones = pyvma_anon[slot].clones;
	*unlinks = pyvma_anon[slot].unlinks;
	return 0;
}

void pyvma_anon_vma_reset(struct anon_vma *av)
{
	int slot = pyvma_anon_slot(av);

	if (slot >= 0)
		pyvma_anon[slot].clones = pyvma_anon[slot].unlinks = 0;
}

/* Drop @av's record (it is being freed; a new anon_vma may get its address). */
void pyvma_anon_forget(struct anon_vma *av)
{
	int i;

	for (i = 0; i < pyvma_nanon; i++) {
		if (pyvma_anon[i].av == av) {
			pyvma_anon[i] = pyvma_anon[--pyvma_nanon];
			return;
		}
	}
}

/* ---- the harness's objects (anon_vmas, files) ------------------------------ */

struct pyvma_obj *pyvma_objs;
int pyvma_nobjs;
static int pyvma_objs_cap;

/* Record @p (PYVMA_OBJ_* @kind) with @pins pins: 0, or -ENOMEM. */
int pyvma_obj_add(void *p, int kind, int pins)
{
	if (pyvma_nobjs == pyvma_objs_cap) {
		int cap = pyvma_objs_cap ? 2 * pyvma_objs_cap : 64;
		struct pyvma_obj *objs = realloc(pyvma_objs, cap * sizeof(*objs));

		if (!objs)
			return -ENOMEM;
		pyvma_objs = objs;
		pyvma_objs_cap = cap;
	}
	pyvma_objs[pyvma_nobjs++] = (struct pyvma_obj){ .p = p, .kind = kind, .pins = pins };
	return 0;
}

/* The index of @p's record, or -1 (newest first: recent objects are asked for). */
int pyvma_obj_find(const void *p)
{
	int i;

	for (i = pyvma_nobjs - 1; i >= 0; i--)
		if (pyvma_objs[i].p == p)
			return i;
	return -1;
}

void pyvma_obj_remove(int i)
{
	pyvma_objs[i] = pyvma_objs[--pyvma_nobjs];
}

/* Python takes (@delta 1) or drops (-1) a hold on @obj: its pins after, or -1 for
 * an object the harness does not know (never freed by the sweep, then). */
int pyvma_obj_pin(void *obj, int delta)
{
	int i = pyvma_obj_find(obj);

	if (i < 0)
		return -1;
	pyvma_objs[i].pins += delta;
	return pyvma_objs[i].pins;
}

/* Objects of @kind (-1: any) not yet freed. */
int pyvma_objects_live(int kind)
{
	int i, n = 0;

	for (i = 0; i < pyvma_nobjs; i++)
		n += kind < 0 || pyvma_objs[i].kind == kind;
	return n;
}

void pyvma_anon_reset(void)
{
	pyvma_nanon = 0;
}

/* ---- gcov (the coverage build) ------------------------------------------ */

/* libgcov's own entry points are hidden in the library; these let Python zero
 * the counters before a measured run and write them out after it (each library
 * in the process has its own).  -1: not a coverage build. */
#ifdef PYVMA_COVERAGE
void __gcov_dump(void);
void __gcov_reset(void);
#endif

int pyvma_coverage_reset(void)
{
#ifdef PYVMA_COVERAGE
	__gcov_reset();
	return 0;
#else
	return -1;
#endif
}

int pyvma_coverage_dump(void)
{
#ifdef PYVMA_COVERAGE
	__gcov_dump();
	return 0;
#else
	return -1;
#endif
}
