// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pyvma flags: the tree's flag table and its vma_flags_t helpers run on words
 * Python hands over.  Object layer (calls only the tree's code); see
 * pyvma_internal.h for the order.
 */
#include "pyvma_internal.h"

/* Flag names and masks as the tree defines them. */
static struct pyvma_flag pyvma_flag_table[PYVMA_MAX_FLAGS];
static int pyvma_nflags = -1;

int pyvma_flag_count(void)
{
	if (pyvma_nflags < 0)
		pyvma_nflags = pyvma_flags_fill(pyvma_flag_table);
	return pyvma_nflags;
}

int pyvma_flag_get(int i, struct pyvma_flag *out)
{
	if (i < 0 || i >= pyvma_flag_count())
		return -1;
	*out = pyvma_flag_table[i];
	return 0;
}

/* ---- vma_flags_t helpers ------------------------------------------------ */

#ifdef PYVMA_HAS_TYPE_vma_flags_t

/* A variadic helper called with n (1..12) bits from b[], after a first argument
 * (upstream's tests pass up to 9 when NUM_VMA_FLAG_BITS is 128). */
#define PYVMA_B1(b) (b)[0]
#define PYVMA_B2(b) PYVMA_B1(b), (b)[1]
#define PYVMA_B3(b) PYVMA_B2(b), (b)[2]
#define PYVMA_B4(b) PYVMA_B3(b), (b)[3]
#define PYVMA_B5(b) PYVMA_B4(b), (b)[4]
#define PYVMA_B6(b) PYVMA_B5(b), (b)[5]
#define PYVMA_B7(b) PYVMA_B6(b), (b)[6]
#define PYVMA_B8(b) PYVMA_B7(b), (b)[7]
#define PYVMA_B9(b) PYVMA_B8(b), (b)[8]
#define PYVMA_B10(b) PYVMA_B9(b), (b)[9]
#define PYVMA_B11(b) PYVMA_B10(b), (b)[10]
#define PYVMA_B12(b) PYVMA_B11(b), (b)[11]
#define PYVMA_BITS(call, obj, b, n)						\
	((n) == 1 ? call(obj, PYVMA_B1(b)) : (n) == 2 ? call(obj, PYVMA_B2(b)) :	\
	 (n) == 3 ? call(obj, PYVMA_B3(b)) : (n) == 4 ? call(obj, PYVMA_B4(b)) :	\
	 (n) == 5 ? call(obj, PYVMA_B5(b)) : (n) == 6 ? call(obj, PYVMA_B6(b)) :	\
	 (n) == 7 ? call(obj, PYVMA_B7(b)) : (n) == 8 ? call(obj, PYVMA_B8(b)) :	\
	 (n) == 9 ? call(obj, PYVMA_B9(b)) : (n) == 10 ? call(obj, PYVMA_B10(b)) :	\
	 (n) == 11 ? call(obj, PYVMA_B11(b)) : call(obj, PYVMA_B12(b)))
#define PYVMA_BITS0(call, b, n)							\
	((n) == 1 ? call(PYVMA_B1(b)) : (n) == 2 ? call(PYVMA_B2(b)) :		\
	 (n) == 3 ? call(PYVMA_B3(b)) : (n) == 4 ? call(PYVMA_B4(b)) :		\
	 (n) == 5 ? call(PYVMA_B5(b)) : (n) == 6 ? call(PYVMA_B6(b)) :		\
	 (n) == 7 ? call(PYVMA_B7(b)) : (n) == 8 ? call(PYVMA_B8(b)) :		\
	 (n) == 9 ? call(PYVMA_B9(b)) : (n) == 10 ? call(PYVMA_B10(b)) :		\
	 (n) == 11 ? call(PYVMA_B11(b)) : call(PYVMA_B12(b)))
#define PYVMA_MAX_BITS 12

int pyvma_vma_flags_bits(void) { return NUM_VMA_FLAG_BITS; }
int pyvma_vma_flags_words(void) { return sizeof(vma_flags_t) / sizeof(unsigned long); }

/*
 * One helper on words: @a is the flags operated on (of a vma_flags_t, a VMA or
 * a VMA descriptor, by op; updated in place by the mutating helpers), @b a
 * second vma_flags_t (a mask, the other of a pair, or a legacy word in b[0]),
 * @bits/@nbits the bit numbers of a variadic helper, @out a vma_flags_t result.
 * Returns the helper's bool/int result, 0 for the others, -EINVAL/-ENOSYS when
 * the call cannot be made.
 */
int pyvma_vma_flags_op(int op, unsigned long *a, const unsigned long *b, const int *bits,
		       int nbits, unsigned long *out)
{
	vma_flags_t f, m, r;
	struct vm_area_struct vma;
	struct vm_area_desc desc;
	vma_flag_t bv[PYVMA_MAX_BITS];
	int i, ret = 0;

	if (nbits < 0 || nbits > PYVMA_MAX_BITS)
		return -EINVAL;
	for (i = 0; i < nbits; i++)
		bv[i] = (vma_flag_t)bits[i];
	memcpy(&f, a, sizeof(f));
	memcpy(&m, b, sizeof(m));
	memset(&r, 0, sizeof(r));
	memset(&vma, 0, sizeof(vma));
	memset(&desc, 0, sizeof(desc));
	vma.flags = f;
	desc.vma_flags = f;
#define NEED_BITS if (nbits < 1) return -EINVAL
	switch (op) {
#if defined(mk_vma_flags)
	case PYVMA_VF_MK: NEED_BITS; r = PYVMA_BITS0(mk_vma_flags, bv, nbits); break;
#endif
#if defined(append_vma_flags)
	case PYVMA_VF_APPEND: NEED_BITS; r = PYVMA_BITS(append_vma_flags, f, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_count)
	case PYVMA_VF_COUNT: ret = vma_flags_count(&f); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_empty)
	case PYVMA_VF_EMPTY: ret = vma_flags_empty(&f); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_test)
	case PYVMA_VF_TEST: NEED_BITS; ret = vma_flags_test(&f, bv[0]); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_test_single_mask)
	case PYVMA_VF_TEST_SINGLE_MASK: ret = vma_flags_test_single_mask(&f, m); break;
#endif
#if defined(vma_flags_test_any)
	case PYVMA_VF_TEST_ANY: NEED_BITS; ret = PYVMA_BITS(vma_flags_test_any, &f, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_test_any_mask)
	case PYVMA_VF_TEST_ANY_MASK: ret = vma_flags_test_any_mask(&f, m); break;
#endif
#if defined(vma_flags_test_all)
	case PYVMA_VF_TEST_ALL: NEED_BITS; ret = PYVMA_BITS(vma_flags_test_all, &f, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_test_all_mask)
	case PYVMA_VF_TEST_ALL_MASK: ret = vma_flags_test_all_mask(&f, m); break;
#endif
#if defined(vma_flags_set)
	case PYVMA_VF_SET: NEED_BITS; (void)PYVMA_BITS(vma_flags_set, &f, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_set_mask)
	case PYVMA_VF_SET_MASK: vma_flags_set_mask(&f, m); break;
#endif
#if defined(vma_flags_clear)
	case PYVMA_VF_CLEAR: NEED_BITS; (void)PYVMA_BITS(vma_flags_clear, &f, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_clear_mask)
	case PYVMA_VF_CLEAR_MASK: vma_flags_clear_mask(&f, m); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_clear_all)
	case PYVMA_VF_CLEAR_ALL: vma_flags_clear_all(&f); break;
#endif
#if defined(vma_flags_and)
	case PYVMA_VF_AND: NEED_BITS; r = PYVMA_BITS(vma_flags_and, &f, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_and_mask)
	case PYVMA_VF_AND_MASK: r = vma_flags_and_mask(&f, m); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_diff_pair)
	case PYVMA_VF_DIFF_PAIR: r = vma_flags_diff_pair(&f, &m); break;
#endif
#if defined(vma_flags_same)
	case PYVMA_VF_SAME: NEED_BITS; ret = PYVMA_BITS(vma_flags_same, &f, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_same_mask)
	case PYVMA_VF_SAME_MASK: ret = vma_flags_same_mask(&f, m); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_same_pair)
	case PYVMA_VF_SAME_PAIR: ret = vma_flags_same_pair(&f, &m); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_to_legacy)
	case PYVMA_VF_TO_LEGACY: r.__vma_flags[0] = vma_flags_to_legacy(f); break;
#endif
#if defined(PYVMA_HAS_HDR_legacy_to_vma_flags)
	case PYVMA_VF_FROM_LEGACY: r = legacy_to_vma_flags(b[0]); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_overwrite_word)
	case PYVMA_VF_OVERWRITE_WORD: vma_flags_overwrite_word(&f, b[0]); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_overwrite_word_once)
	case PYVMA_VF_OVERWRITE_WORD_ONCE: vma_flags_overwrite_word_once(&f, b[0]); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_set_word)
	case PYVMA_VF_SET_WORD: vma_flags_set_word(&f, b[0]); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_flags_clear_word)
	case PYVMA_VF_CLEAR_WORD: vma_flags_clear_word(&f, b[0]); break;
#endif

#if defined(PYVMA_HAS_HDR_vma_test)
	case PYVMA_VF_VMA_TEST: NEED_BITS; ret = vma_test(&vma, bv[0]); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_test_single_mask)
	case PYVMA_VF_VMA_TEST_SINGLE_MASK: ret = vma_test_single_mask(&vma, m); break;
#endif
#if defined(vma_test_any)
	case PYVMA_VF_VMA_TEST_ANY: NEED_BITS; ret = PYVMA_BITS(vma_test_any, &vma, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_test_any_mask)
	case PYVMA_VF_VMA_TEST_ANY_MASK: ret = vma_test_any_mask(&vma, m); break;
#endif
#if defined(vma_test_all)
	case PYVMA_VF_VMA_TEST_ALL: NEED_BITS; ret = PYVMA_BITS(vma_test_all, &vma, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_test_all_mask)
	case PYVMA_VF_VMA_TEST_ALL_MASK: ret = vma_test_all_mask(&vma, m); break;
#endif
#if defined(vma_set_flags)
	case PYVMA_VF_VMA_SET: NEED_BITS; (void)PYVMA_BITS(vma_set_flags, &vma, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_set_flags_mask)
	case PYVMA_VF_VMA_SET_MASK: vma_set_flags_mask(&vma, m); break;
#endif
#if defined(vma_clear_flags)
	case PYVMA_VF_VMA_CLEAR: NEED_BITS; (void)PYVMA_BITS(vma_clear_flags, &vma, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_clear_flags_mask)
	case PYVMA_VF_VMA_CLEAR_MASK: vma_clear_flags_mask(&vma, m); break;
#endif

#if defined(PYVMA_HAS_HDR_vma_desc_test)
	case PYVMA_VF_DESC_TEST: NEED_BITS; ret = vma_desc_test(&desc, bv[0]); break;
#endif
#if defined(vma_desc_test_any)
	case PYVMA_VF_DESC_TEST_ANY: NEED_BITS; ret = PYVMA_BITS(vma_desc_test_any, &desc, bv, nbits); break;
#endif
#if defined(vma_desc_test_all)
	case PYVMA_VF_DESC_TEST_ALL: NEED_BITS; ret = PYVMA_BITS(vma_desc_test_all, &desc, bv, nbits); break;
#endif
#if defined(vma_desc_set_flags)
	case PYVMA_VF_DESC_SET: NEED_BITS; (void)PYVMA_BITS(vma_desc_set_flags, &desc, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_desc_set_flags_mask)
	case PYVMA_VF_DESC_SET_MASK: vma_desc_set_flags_mask(&desc, m); break;
#endif
#if defined(vma_desc_clear_flags)
	case PYVMA_VF_DESC_CLEAR: NEED_BITS; (void)PYVMA_BITS(vma_desc_clear_flags, &desc, bv, nbits); break;
#endif
#if defined(PYVMA_HAS_HDR_vma_desc_clear_flags_mask)
	case PYVMA_VF_DESC_CLEAR_MASK: vma_desc_clear_flags_mask(&desc, m); break;
#endif
	default:
		return -ENOSYS;
	}
#undef NEED_BITS
	if (op >= PYVMA_VF_DESC_TEST)
		f = desc.vma_flags;
	else if (op >= PYVMA_VF_VMA_TEST)
		f = vma.flags;
	memcpy(a, &f, sizeof(f));
	memcpy(out, &r, sizeof(r));
	return ret;
}

#else /* no vma_flags_t: plain vm_flags_t words */

int pyvma_vma_flags_bits(void) { return 0; }
int pyvma_vma_flags_words(void) { return 0; }
int pyvma_vma_flags_op(int op, unsigned long *a, const unsigned long *b, const int *bits,
		       int nbits, unsigned long *out)
{
	return -ENOSYS;
}

#endif
