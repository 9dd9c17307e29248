/* The fast path of dataaudit.passes.lsh.MinHasher: the permutation-and-min step of MinHash in C.
 *
 * affine32(values, offsets, a, b, out[, stride])
 *   values   uint32 words; shingle j is values[j * stride] (stride 1: plain uint32 hashes; stride 2: the
 *            low halves of little-endian uint64 shingle hashes read in place, without a copy)
 *   offsets  int64[n+1]  document i owns shingles offsets[i] .. offsets[i+1]-1
 *   a, b     uint32[K]   datasketch's affine32 permutations (a odd)
 *   out      uint32[n*K] written in place, row-major: out[i*K + k] = min over the document of
 *                        a[k] * fmix32(h) + b[k]  (mod 2^32); 0xFFFFFFFF for a document with no values
 * legacy(values, offsets, a, b, out[, stride])
 *   a, b     uint64[K]   datasketch's legacy permutations
 *   out      uint32[n*K] min of ((a[k] * h + b[k]) mod 2^64) mod (2^61 - 1), low 32 bits
 *
 * Both are exactly the numpy path of lsh.py (the tests compare them bit for bit, and with datasketch).
 *
 * Layout of the work: documents one at a time. A document's shingles are first gathered into a contiguous
 * buffer (fmix32'd for affine32, 16 or 8 at a time). Then the permutations in blocks whose a, b and running
 * minima stay in vector registers, one pass over the buffer (it stays in L1) per block:
 *   - AVX-512 (F + DQ; 32 registers of 16 lanes): affine32 in blocks of 128 permutations (8 vectors each
 *     of a, b, minima: 24 registers), four shingles a step, per 16 permutations and shingle one vpmulld,
 *     one vpaddd, one vpminud; legacy in blocks of 64, with vpmullq for the uint64 product. A remainder
 *     of num_perm runs as one masked vector.
 *   - AVX2 (16 registers of 8 lanes): affine32 in blocks of 32, two shingles a step, the same three
 *     instructions per 8 pairs; legacy in blocks of 16 from 32x32->64 products. Blocks of 8 and a scalar
 *     loop take the rest.
 * The three instructions per pair are the work of datasketch's definition; on the machine measured (AMD
 * EPYC Zen 4: a 512-bit operation is two 256-bit halves, the multiplier takes one zmm a cycle) the
 * AVX-512 loop runs near the vector pipes' throughput, and unrolling four shingles a step was 1.5x one
 * a step (docs/near.md has the figures). The SIMD kernels are compiled with GCC/Clang function targets
 * (no global -m flags) and picked at run time (__builtin_cpu_supports; set_kernel() forces one, and
 * lsh.py reads $DATAAUDIT_MINHASH_KERNEL), so the module loads on any CPU; every other machine gets the
 * portable loops, which give the same values.
 * The GIL is released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define DA_X86 1
#include <immintrin.h>
#endif

static inline uint32_t fmix32(uint32_t h) {   /* MurmurHash3's 32-bit finalizer (datasketch's _fmix) */
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

/* ---------------------------------------------------------------------------------- portable kernels */

static void gather_scalar(const uint32_t *h, int64_t m, int stride, int mix, uint32_t *x) {
    for (int64_t j = 0; j < m; j++) x[j] = mix ? fmix32(h[j * stride]) : h[j * stride];
}

static void affine_doc_scalar(const uint32_t *x, int64_t m, const uint32_t *a, const uint32_t *b,
                              uint32_t *row, int k0, int K) {
    for (int k = k0; k < K; k++) {
        uint32_t lo = 0xFFFFFFFFu, ak = a[k], bk = b[k];
        for (int64_t i = 0; i < m; i++) {
            uint32_t v = ak * x[i] + bk;
            lo = v < lo ? v : lo;
        }
        row[k] = lo;
    }
}

static const uint64_t MERSENNE61 = (1ull << 61) - 1;

static inline uint64_t mod_mersenne61(uint64_t v) {   /* v mod (2^61 - 1) for any 64-bit v */
    uint64_t y = (v & MERSENNE61) + (v >> 61);
    return y >= MERSENNE61 ? y - MERSENNE61 : y;
}

static void legacy_doc_scalar(const uint32_t *x, int64_t m, const uint64_t *a, const uint64_t *b,
                              uint32_t *row, int K) {
    for (int k = 0; k < K; k++) {
        uint32_t lo = 0xFFFFFFFFu;
        uint64_t ak = a[k], bk = b[k];
        for (int64_t i = 0; i < m; i++) {
            uint32_t v = (uint32_t)(mod_mersenne61(ak * (uint64_t)x[i] + bk) & 0xFFFFFFFFu);
            lo = v < lo ? v : lo;
        }
        row[k] = lo;
    }
}

/* -------------------------------------------------------------------------------------- AVX2 kernels */

#ifdef DA_X86
/* x[j] = fmix32(h[j * stride]) (mix) or h[j * stride], eight at a time. The order of x does not matter
 * (only its minimum under each permutation is used), so stride 2 takes the even words of two loads with
 * one shuffle and leaves them in the shuffle's order. A vector load never reaches past h[(m-1) * stride]. */
__attribute__((target("avx2")))
static void gather_avx2(const uint32_t *h, int64_t m, int stride, int mix, uint32_t *x) {
    const __m256i C1 = _mm256_set1_epi32((int)0x85EBCA6Bu), C2 = _mm256_set1_epi32((int)0xC2B2AE35u);
    int64_t j = 0;
    for (; (j + 8) * stride <= (m - 1) * stride + 1; j += 8) {
        __m256i v;
        if (stride == 1) {
            v = _mm256_loadu_si256((const __m256i *)(h + j));
        } else {
            __m256 lo = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(h + 2 * j)));
            __m256 hi = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(h + 2 * j + 8)));
            v = _mm256_castps_si256(_mm256_shuffle_ps(lo, hi, 0x88));   /* dwords 0, 2 of each 128-bit half */
        }
        if (mix) {
            v = _mm256_xor_si256(v, _mm256_srli_epi32(v, 16));
            v = _mm256_mullo_epi32(v, C1);
            v = _mm256_xor_si256(v, _mm256_srli_epi32(v, 13));
            v = _mm256_mullo_epi32(v, C2);
            v = _mm256_xor_si256(v, _mm256_srli_epi32(v, 16));
        }
        _mm256_storeu_si256((__m256i *)(x + j), v);
    }
    for (; j < m; j++) x[j] = mix ? fmix32(h[j * stride]) : h[j * stride];
}

__attribute__((target("avx2")))
static void affine_doc_avx2(const uint32_t *x, int64_t m, const uint32_t *a, const uint32_t *b,
                            uint32_t *row, int K) {
    int k0 = 0;
    /* 32 permutations per pass, two shingles per step: a, b and the minima (4 vectors each) and the two
     * broadcasts and products fill the 16 AVX2 registers, so nothing is reloaded inside the loop. */
    for (; k0 + 32 <= K; k0 += 32) {
        const __m256i *A = (const __m256i *)(a + k0), *B = (const __m256i *)(b + k0);
        __m256i a0 = _mm256_loadu_si256(A + 0), a1 = _mm256_loadu_si256(A + 1);
        __m256i a2 = _mm256_loadu_si256(A + 2), a3 = _mm256_loadu_si256(A + 3);
        __m256i b0 = _mm256_loadu_si256(B + 0), b1 = _mm256_loadu_si256(B + 1);
        __m256i b2 = _mm256_loadu_si256(B + 2), b3 = _mm256_loadu_si256(B + 3);
        __m256i m0 = _mm256_set1_epi32(-1), m1 = m0, m2 = m0, m3 = m0;
        int64_t i = 0;
        for (; i + 2 <= m; i += 2) {
            __m256i h = _mm256_set1_epi32((int)x[i]), g = _mm256_set1_epi32((int)x[i + 1]);
#define STEP(j) m##j = _mm256_min_epu32(m##j, _mm256_min_epu32(                               \
                    _mm256_add_epi32(_mm256_mullo_epi32(a##j, h), b##j),                      \
                    _mm256_add_epi32(_mm256_mullo_epi32(a##j, g), b##j)))
            STEP(0); STEP(1); STEP(2); STEP(3);
#undef STEP
        }
        if (i < m) {
            __m256i h = _mm256_set1_epi32((int)x[i]);
            m0 = _mm256_min_epu32(m0, _mm256_add_epi32(_mm256_mullo_epi32(a0, h), b0));
            m1 = _mm256_min_epu32(m1, _mm256_add_epi32(_mm256_mullo_epi32(a1, h), b1));
            m2 = _mm256_min_epu32(m2, _mm256_add_epi32(_mm256_mullo_epi32(a2, h), b2));
            m3 = _mm256_min_epu32(m3, _mm256_add_epi32(_mm256_mullo_epi32(a3, h), b3));
        }
        __m256i *R = (__m256i *)(row + k0);
        _mm256_storeu_si256(R + 0, m0); _mm256_storeu_si256(R + 1, m1);
        _mm256_storeu_si256(R + 2, m2); _mm256_storeu_si256(R + 3, m3);
    }
    for (; k0 + 8 <= K; k0 += 8) {
        __m256i av = _mm256_loadu_si256((const __m256i *)(a + k0));
        __m256i bv = _mm256_loadu_si256((const __m256i *)(b + k0));
        __m256i mv = _mm256_set1_epi32(-1);
        for (int64_t i = 0; i < m; i++)
            mv = _mm256_min_epu32(mv, _mm256_add_epi32(_mm256_mullo_epi32(av, _mm256_set1_epi32((int)x[i])), bv));
        _mm256_storeu_si256((__m256i *)(row + k0), mv);
    }
    if (k0 < K) affine_doc_scalar(x, m, a, b, row, k0, K);
}

/* legacy: 4 permutations per vector (64-bit lanes), four vectors per pass.
 *   v = a * h + b mod 2^64, with a * h = a_lo * h + ((a_hi * h) << 32) from two 32x32->64 products;
 *   y = (v & P) + (v >> 61) is v mod P or v mod P + P (P = 2^61 - 1, 2^61 = 1 mod P), and y >= P means
 *   y - P, whose low 32 bits are those of y plus one (P = 2^61 - 1 ends in 32 ones): so the low word of
 *   y - (y > P - 1 ? -1 : 0) is the result, and an unsigned 32-bit min over the lanes keeps the running
 *   minimum in the low words (the high words hold a min nobody reads). 11 instructions per 4 pairs. */
__attribute__((target("avx2")))
static void legacy_doc_avx2(const uint32_t *x, int64_t m, const uint64_t *a, const uint64_t *b,
                            uint32_t *row, int K) {
    const __m256i P = _mm256_set1_epi64x((long long)MERSENNE61);
    const __m256i PM1 = _mm256_set1_epi64x((long long)(MERSENNE61 - 1));
    int k0 = 0;
    for (; k0 + 16 <= K; k0 += 16) {
        __m256i alo[4], ahi[4], bv[4], mv[4];
        for (int j = 0; j < 4; j++) {
            __m256i av = _mm256_loadu_si256((const __m256i *)(a + k0 + 4 * j));
            alo[j] = av;
            ahi[j] = _mm256_srli_epi64(av, 32);
            bv[j] = _mm256_loadu_si256((const __m256i *)(b + k0 + 4 * j));
            mv[j] = _mm256_set1_epi32(-1);
        }
        for (int64_t i = 0; i < m; i++) {
            __m256i h = _mm256_set1_epi64x((long long)x[i]);
            for (int j = 0; j < 4; j++) {
                __m256i v = _mm256_add_epi64(_mm256_mul_epu32(alo[j], h),
                                             _mm256_slli_epi64(_mm256_mul_epu32(ahi[j], h), 32));
                v = _mm256_add_epi64(v, bv[j]);
                __m256i y = _mm256_add_epi64(_mm256_and_si256(v, P), _mm256_srli_epi64(v, 61));
                y = _mm256_sub_epi64(y, _mm256_cmpgt_epi64(y, PM1));
                mv[j] = _mm256_min_epu32(mv[j], y);
            }
        }
        for (int j = 0; j < 4; j++) {
            uint32_t tmp[8];
            _mm256_storeu_si256((__m256i *)tmp, mv[j]);
            for (int t = 0; t < 4; t++) row[k0 + 4 * j + t] = tmp[2 * t];
        }
    }
    if (k0 < K) legacy_doc_scalar(x, m, a + k0, b + k0, row + k0, K - k0);
}

/* ------------------------------------------------------------------------------------ AVX-512 kernels
 *
 * The same loops with 16 32-bit (affine32) or 8 64-bit (legacy) lanes, and 32 vector registers, so a
 * whole 128-permutation signature (8 vectors each of a, b and running minima: 24 registers) stays in
 * registers for one pass over the document's buffer; per 16 permutations and shingle: one vpmulld (its
 * shingle operand a broadcast), one vpaddd, one vpminud. legacy gets AVX512DQ's vpmullq: the product
 * a * h mod 2^64 that datasketch's uint64 numpy arithmetic computes is one instruction per 8 lanes (AVX2
 * builds it from two 32x32->64 products, a shift and an add). Tails of num_perm (not a multiple of 16 or 8)
 * run as one masked vector. Compiled with function targets (no global -mavx512 flags) and picked at run
 * time, so the module still loads and runs on CPUs without AVX-512. */

#define DA_AVX512 __attribute__((target("avx512f,avx512dq")))

/* x[j] = fmix32(h[j * stride]) (mix) or h[j * stride], sixteen at a time; for stride 2 one vpermt2d takes
 * the even words of two vectors. Plain loads and stores while sixteen whole shingles remain (masked stores
 * cost several times more), then one masked step, whose loads never touch a word past the last shingle. */
DA_AVX512 static inline __attribute__((always_inline))
__m512i gather16_avx512(const uint32_t *h, int stride, int mix, __mmask16 mk0, __mmask16 mk1, int masked) {
    const __m512i C1 = _mm512_set1_epi32((int)0x85EBCA6Bu), C2 = _mm512_set1_epi32((int)0xC2B2AE35u);
    const __m512i EVEN = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512i v;
    if (stride == 1) {
        v = masked ? _mm512_maskz_loadu_epi32(mk0, h) : _mm512_loadu_si512((const void *)h);
    } else {
        __m512i lo = masked ? _mm512_maskz_loadu_epi32(mk0, h) : _mm512_loadu_si512((const void *)h);
        __m512i hi = masked ? _mm512_maskz_loadu_epi32(mk1, h + 16) : _mm512_loadu_si512((const void *)(h + 16));
        v = _mm512_permutex2var_epi32(lo, EVEN, hi);
    }
    if (mix) {
        v = _mm512_xor_si512(v, _mm512_srli_epi32(v, 16));
        v = _mm512_mullo_epi32(v, C1);
        v = _mm512_xor_si512(v, _mm512_srli_epi32(v, 13));
        v = _mm512_mullo_epi32(v, C2);
        v = _mm512_xor_si512(v, _mm512_srli_epi32(v, 16));
    }
    return v;
}

DA_AVX512
static void gather_avx512(const uint32_t *h, int64_t m, int stride, int mix, uint32_t *x) {
    int64_t j = 0;
    /* whole steps: shingles j .. j+15 read words up to 16 * stride - 1 past h + j * stride; the last
     * shingle's word is h[(m - 1) * stride], so with stride 2 a whole step needs j + 16 < m */
    for (; j + 16 + (stride - 1) <= m; j += 16)
        _mm512_storeu_si512((void *)(x + j), gather16_avx512(h + j * stride, stride, mix, 0, 0, 0));
    if (j < m) {
        int64_t left = m - j, words = stride == 1 ? left : 2 * left - 1;   /* words that exist from h+j*stride */
        __mmask16 m0 = words >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << words) - 1);
        __mmask16 m1 = words >= 32 ? (__mmask16)0xFFFF
                     : words > 16 ? (__mmask16)((1u << (words - 16)) - 1) : (__mmask16)0;
        __m512i v = gather16_avx512(h + j * stride, stride, mix, m0, m1, 1);
        _mm512_mask_storeu_epi32(x + j, (__mmask16)((1u << left) - 1), v);   /* left <= 16 */
    }
}

/* m = min(m, a * h + b), 16 lanes. In inline assembly because GCC 12, given the intrinsics, computes the
 * minimum into a fresh register and copies it back (one vmovdqa64 per vector and shingle: a third more
 * instructions in the loop); the constraints keep m in one register for the whole loop. */
#define AFFINE512_STEP(m, a, b, h) do {                                                               \
        __m512i t_;                                                                                   \
        __asm__("vpmulld %[va], %[vh], %[vt]\n\t"                                                   \
                "vpaddd %[vb], %[vt], %[vt]\n\t"                                                    \
                "vpminud %[vt], %[vm], %[vm]"                                                         \
                : [vm] "+v"(m), [vt] "=&v"(t_) : [va] "v"(a), [vb] "v"(b), [vh] "v"(h));              \
    } while (0)

/* NV vectors of 16 permutations from k0, one pass over x; `tail` lanes of the last vector if tail > 0 */
#define AFFINE512_BLOCK(NV)                                                                           \
    DA_AVX512 static inline __attribute__((always_inline))                                            \
    void affine512_block##NV(const uint32_t *x, int64_t m, const uint32_t *a, const uint32_t *b,      \
                             uint32_t *row, __mmask16 last) {                                         \
        __m512i A[NV], B[NV], M[NV];                                                                  \
        _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) {                                       \
            __mmask16 mk = j == NV - 1 ? last : (__mmask16)0xFFFF;                                    \
            A[j] = _mm512_maskz_loadu_epi32(mk, a + 16 * j);                                          \
            B[j] = _mm512_maskz_loadu_epi32(mk, b + 16 * j);                                          \
            M[j] = _mm512_set1_epi32(-1);                                                             \
        }                                                                                             \
        int64_t i = 0;                                                                                \
        for (; i + 4 <= m; i += 4) {   /* four shingles a step: 1.5x one a step (docs/near.md) */     \
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {                                     \
                __m512i h = _mm512_set1_epi32((int)x[i + u]);                                         \
                _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) AFFINE512_STEP(M[j], A[j], B[j], h); \
            }                                                                                         \
        }                                                                                             \
        for (; i < m; i++) {                                                                          \
            __m512i h = _mm512_set1_epi32((int)x[i]);                                                 \
            _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) AFFINE512_STEP(M[j], A[j], B[j], h); \
        }                                                                                             \
        _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++)                                         \
            _mm512_mask_storeu_epi32(row + 16 * j, j == NV - 1 ? last : (__mmask16)0xFFFF, M[j]);     \
    }
AFFINE512_BLOCK(8)
AFFINE512_BLOCK(4)
AFFINE512_BLOCK(1)
#undef AFFINE512_BLOCK

DA_AVX512
static void affine_doc_avx512(const uint32_t *x, int64_t m, const uint32_t *a, const uint32_t *b,
                              uint32_t *row, int K) {
    const __mmask16 full = (__mmask16)0xFFFF;
    int k0 = 0;
    for (; k0 + 128 <= K; k0 += 128) affine512_block8(x, m, a + k0, b + k0, row + k0, full);
    for (; k0 + 64 <= K; k0 += 64) affine512_block4(x, m, a + k0, b + k0, row + k0, full);
    for (; k0 + 16 <= K; k0 += 16) affine512_block1(x, m, a + k0, b + k0, row + k0, full);
    if (k0 < K) affine512_block1(x, m, a + k0, b + k0, row + k0, (__mmask16)((1u << (K - k0)) - 1));
}

/* legacy, 8 permutations per vector: v = a * h + b mod 2^64 (vpmullq, vpaddq); y = (v & P) + (v >> 61)
 * is v mod P or v mod P + P (P = 2^61 - 1; y < P + 8); min(y, y - P) as unsigned 64-bit numbers is
 * y mod P (y - P wraps to above 2^63 when y < P); and an unsigned 32-bit min keeps the running minimum
 * of the low words (the high words hold a min nobody reads). 8 instructions per 8 pairs. */
#define LEGACY512_BLOCK(NV)                                                                           \
    DA_AVX512 static inline __attribute__((always_inline))                                            \
    void legacy512_block##NV(const uint32_t *x, int64_t m, const uint64_t *a, const uint64_t *b,      \
                             uint32_t *row, __mmask8 last) {                                          \
        const __m512i P = _mm512_set1_epi64((long long)MERSENNE61);                                   \
        __m512i A[NV], B[NV], M[NV];                                                                  \
        _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) {                                       \
            __mmask8 mk = j == NV - 1 ? last : (__mmask8)0xFF;                                        \
            A[j] = _mm512_maskz_loadu_epi64(mk, a + 8 * j);                                           \
            B[j] = _mm512_maskz_loadu_epi64(mk, b + 8 * j);                                           \
            M[j] = _mm512_set1_epi32(-1);                                                             \
        }                                                                                             \
        for (int64_t i = 0; i < m; i++) {                                                             \
            __m512i h = _mm512_set1_epi64((long long)x[i]);                                           \
            _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) {                                   \
                __m512i v = _mm512_add_epi64(_mm512_mullo_epi64(A[j], h), B[j]);                      \
                __m512i y = _mm512_add_epi64(_mm512_and_si512(v, P), _mm512_srli_epi64(v, 61));       \
                y = _mm512_min_epu64(y, _mm512_sub_epi64(y, P));                                      \
                M[j] = _mm512_min_epu32(M[j], y);                                                     \
            }                                                                                         \
        }                                                                                             \
        _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) {                                       \
            uint32_t tmp[8];                                                                          \
            _mm256_storeu_si256((__m256i *)tmp, _mm512_cvtepi64_epi32(M[j]));                         \
            int n = j == NV - 1 ? __builtin_popcount((unsigned)last) : 8;                             \
            memcpy(row + 8 * j, tmp, (size_t)n * 4);                                                  \
        }                                                                                             \
    }
LEGACY512_BLOCK(8)
LEGACY512_BLOCK(1)
#undef LEGACY512_BLOCK

DA_AVX512
static void legacy_doc_avx512(const uint32_t *x, int64_t m, const uint64_t *a, const uint64_t *b,
                              uint32_t *row, int K) {
    int k0 = 0;
    for (; k0 + 64 <= K; k0 += 64) legacy512_block8(x, m, a + k0, b + k0, row + k0, (__mmask8)0xFF);
    for (; k0 + 8 <= K; k0 += 8) legacy512_block1(x, m, a + k0, b + k0, row + k0, (__mmask8)0xFF);
    if (k0 < K) legacy512_block1(x, m, a + k0, b + k0, row + k0, (__mmask8)((1u << (K - k0)) - 1));
}

enum { K_PORTABLE = 0, K_AVX2 = 1, K_AVX512 = 2 };
static const char *const KERNEL_NAMES[] = {"portable", "avx2", "avx512"};

static int best_kernel(void) {   /* the fastest kernel this CPU (and OS: libgcc checks XCR0) runs */
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) ? K_AVX512
               : __builtin_cpu_supports("avx2") ? K_AVX2 : K_PORTABLE;
    }
    return cached;
}
#else
static int best_kernel(void) { return 0; }
#define K_PORTABLE 0
#define K_AVX2 1
#define K_AVX512 2
static const char *const KERNEL_NAMES[] = {"portable", "avx2", "avx512"};
#endif

/* the kernel in use: -1 the best one; set_kernel() forces another (tests run every path) */
static int forced_kernel = -1;

static int current_kernel(void) { return forced_kernel >= 0 ? forced_kernel : best_kernel(); }

/* ------------------------------------------------------------------------------------------- Python */

static int check(Py_buffer *vals, Py_buffer *offs, Py_buffer *a, Py_buffer *b, Py_buffer *out,
                 Py_ssize_t width, int stride, Py_ssize_t *n_docs, Py_ssize_t *K) {
    if (stride != 1 && stride != 2) {
        PyErr_SetString(PyExc_ValueError, "stride must be 1 or 2");
        return -1;
    }
    if (vals->len % 4 || offs->len % 8 || offs->len < 8 || a->len % width || a->len != b->len) {
        PyErr_SetString(PyExc_ValueError, "bad buffer sizes");
        return -1;
    }
    *n_docs = offs->len / 8 - 1;
    *K = a->len / width;
    if (out->len != *n_docs * *K * 4) {
        PyErr_SetString(PyExc_ValueError, "out must hold n_docs * num_perm uint32");
        return -1;
    }
    const int64_t *o = (const int64_t *)offs->buf;
    int64_t nv = (vals->len / 4 + stride - 1) / stride;   /* shingles: words 0, stride, 2*stride, ... */
    for (Py_ssize_t i = 0; i < *n_docs; i++) {
        if (o[i] < 0 || o[i + 1] < o[i] || o[i + 1] > nv) {
            PyErr_SetString(PyExc_ValueError, "offsets must be non-decreasing and inside values");
            return -1;
        }
    }
    return 0;
}

static PyObject *run(PyObject *args, int legacy) {
    Py_buffer vals, offs, a, b, out;
    int stride = 1;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*|i", &vals, &offs, &a, &b, &out, &stride)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n_docs, K;
    if (check(&vals, &offs, &a, &b, &out, legacy ? 8 : 4, stride, &n_docs, &K) < 0) goto done;
    if (K > 0x7FFFFFFF) { PyErr_SetString(PyExc_ValueError, "num_perm too large"); goto done; }
    const int64_t *o = (const int64_t *)offs.buf;
    const uint32_t *v = (const uint32_t *)vals.buf;
    uint32_t *sig = (uint32_t *)out.buf;
    int64_t maxlen = 0;
    for (Py_ssize_t i = 0; i < n_docs; i++) if (o[i + 1] - o[i] > maxlen) maxlen = o[i + 1] - o[i];
    uint32_t *x = NULL;
    if (maxlen > 0 && !(x = (uint32_t *)malloc((size_t)maxlen * 4))) { PyErr_NoMemory(); goto done; }
    int kern = current_kernel();
    (void)kern;   /* unused where there are no SIMD kernels */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_docs; i++) {
        int64_t m = o[i + 1] - o[i];
        uint32_t *row = sig + (size_t)i * (size_t)K;
        if (m == 0) { memset(row, 0xFF, (size_t)K * 4); continue; }
        const uint32_t *h = v + (size_t)o[i] * (size_t)stride;
#ifdef DA_X86
        if (kern == K_AVX512) {
            gather_avx512(h, m, stride, !legacy, x);
            if (legacy) legacy_doc_avx512(x, m, (const uint64_t *)a.buf, (const uint64_t *)b.buf, row, (int)K);
            else affine_doc_avx512(x, m, (const uint32_t *)a.buf, (const uint32_t *)b.buf, row, (int)K);
            continue;
        }
        if (kern == K_AVX2) {
            gather_avx2(h, m, stride, !legacy, x);
            if (legacy) legacy_doc_avx2(x, m, (const uint64_t *)a.buf, (const uint64_t *)b.buf, row, (int)K);
            else affine_doc_avx2(x, m, (const uint32_t *)a.buf, (const uint32_t *)b.buf, row, (int)K);
            continue;
        }
#endif
        gather_scalar(h, m, stride, !legacy, x);
        if (legacy) legacy_doc_scalar(x, m, (const uint64_t *)a.buf, (const uint64_t *)b.buf, row, (int)K);
        else affine_doc_scalar(x, m, (const uint32_t *)a.buf, (const uint32_t *)b.buf, row, 0, (int)K);
    }
    Py_END_ALLOW_THREADS
    free(x);
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&vals);
    PyBuffer_Release(&offs);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    PyBuffer_Release(&out);
    return result;
}

/* ---------------------------------------------------------------------------------- word shingles
 *
 * word_ids(data, offsets) -> (ids, word_offsets, words, word_starts)
 *   Splits each document data[offsets[i]:offsets[i+1]] into words (maximal runs of bytes other than
 *   ASCII whitespace 9-13 and 32, as shingle._word_values) and numbers the distinct words of the batch in
 *   order of first appearance: ids int64[W], word_offsets int64[n+1] (document i owns
 *   ids[word_offsets[i]:word_offsets[i+1]]), and the distinct words back to back (words: bytes) with
 *   int64[U+1] word_starts into them.
 *   The caller hashes each distinct word once (xxh3-64, in Python) and calls
 * ngram_hashes(ids, word_offsets, word_hashes, consts, c_len, ngram, keep_short) -> (offsets, hashes)
 *   the shingle hashes of shingle._combine: per window of ngram words
 *   fmix64(ngram * c_len + sum_k consts[k] * h[word_k]), and for a document of 0 < m < ngram words (when
 *   keep_short) one shingle fmix64(m * c_len + sum_{k<m} consts[k] * h[word_k]).
 */

static inline uint64_t fmix64(uint64_t x) {
    x ^= x >> 33; x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33; x *= 0xC4CEB9FE1A85EC53ull;
    return x ^ (x >> 33);
}

static inline int is_sep(unsigned char c) { return c == 32 || (c >= 9 && c <= 13); }

static inline uint64_t bytes_hash(const unsigned char *p, int64_t n) {   /* table hash only, not stored */
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) { uint64_t w; memcpy(&w, p, 8); h = (h ^ w) * 0xFF51AFD7ED558CCDull; h ^= h >> 32; p += 8; n -= 8; }
    uint64_t w = 0;
    for (int64_t j = 0; j < n; j++) w |= (uint64_t)p[j] << (8 * j);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    return fmix64(h);
}

/* The table key of a word: a word of up to 7 bytes is its own key (its bytes, zero-padded, with its length
 * in the top byte), so finding it needs no look at the stored words; a longer one is keyed by its hash
 * with the top byte 0 (never equal to a short word's key) and compared byte by byte on a key match. */
static inline uint64_t word_key(const unsigned char *p, int64_t n, const unsigned char *end) {
    if (n <= 7) {
        uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (end - p >= 8) { memcpy(&w, p, 8); w &= (1ull << (8 * n)) - 1; }
        else
#endif
        for (int64_t j = 0; j < n; j++) w |= (uint64_t)p[j] << (8 * j);
        return w | ((uint64_t)n << 56);
    }
    return bytes_hash(p, n) & 0x00FFFFFFFFFFFFFFull;
}

typedef struct { uint64_t hash; int64_t id; } slot_t;   /* hash: the word's key (word_key) */

static PyObject *word_ids(PyObject *self, PyObject *args) {
    Py_buffer data, offs;
    if (!PyArg_ParseTuple(args, "y*y*", &data, &offs)) return NULL;
    PyObject *ids_b = NULL, *woff_b = NULL, *arena_b = NULL, *aoff_b = NULL, *result = NULL;
    slot_t *table = NULL;
    int64_t *ids = NULL, *aoff = NULL;
    unsigned char *arena = NULL;
    if (offs.len % 8 || offs.len < 8) { PyErr_SetString(PyExc_ValueError, "bad offsets"); goto done; }
    const int64_t *o = (const int64_t *)offs.buf;
    Py_ssize_t n = offs.len / 8 - 1;
    const unsigned char *d = (const unsigned char *)data.buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (o[i] < 0 || o[i + 1] < o[i] || o[i + 1] > (int64_t)data.len) {
            PyErr_SetString(PyExc_ValueError, "offsets must be non-decreasing and inside data");
            goto done;
        }
    int64_t span = o[n] - o[0];
    int64_t max_words = span / 2 + (int64_t)n + 2;   /* a word takes a byte, two with the separator after it */
    woff_b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * 8));
    ids = (int64_t *)malloc((size_t)max_words * 8);
    if (!woff_b || !ids) { PyErr_NoMemory(); goto done; }
    int64_t *woff = (int64_t *)PyBytes_AS_STRING(woff_b);
    /* distinct words are copied to a compact arena (it stays in cache, unlike their first occurrences) */
    int64_t cap = 1 << 14, n_uniq = 0, n_words = 0, arena_cap = 1 << 16, arena_len = 0;
    table = (slot_t *)malloc((size_t)cap * sizeof(slot_t));
    aoff = (int64_t *)malloc((size_t)(cap / 2 + 1) * 8);
    arena = (unsigned char *)malloc((size_t)arena_cap);
    if (!table || !aoff || !arena) { PyErr_NoMemory(); goto done; }
    memset(table, 0xFF, (size_t)cap * sizeof(slot_t));
    aoff[0] = 0;
    int oom = 0;
    Py_BEGIN_ALLOW_THREADS
    /* Words go in blocks of WBLOCK: first split and hashed, each one's table slot prefetched, then looked
     * up. The table (16 bytes a slot, 2x the distinct words) outgrows L2 on real batches, and a lookup that
     * waits for its slot before the next word is even found was most of the time (perf: 40% on the slot
     * load); with the block the misses overlap. */
    enum { WBLOCK = 16 };
    int64_t bs[WBLOCK], bl[WBLOCK];
    uint64_t bk[WBLOCK], bh[WBLOCK];   /* key, and the slot hash fmix64(key) */
    const unsigned char *dend = d + data.len;
    for (Py_ssize_t i = 0; i < n && !oom; i++) {
        woff[i] = n_words;
        int64_t k = o[i], e = o[i + 1];
        while (k < e && !oom) {
            int nb = 0;
            while (nb < WBLOCK) {
                while (k < e && is_sep(d[k])) k++;
                if (k >= e) break;
                int64_t s0 = k;
                while (k < e && !is_sep(d[k])) k++;
                bs[nb] = s0;
                bl[nb] = k - s0;
                bk[nb] = word_key(d + s0, k - s0, dend);
                bh[nb] = fmix64(bk[nb]);
                __builtin_prefetch(&table[bh[nb] & (uint64_t)(cap - 1)]);
                nb++;
            }
            for (int w = 0; w < nb; w++) {           /* the word's offsets, where its slot is taken */
                int64_t sid = table[bh[w] & (uint64_t)(cap - 1)].id;
                if (sid >= 0 && bl[w] > 7) __builtin_prefetch(&aoff[sid]);
            }
            for (int w = 0; w < nb; w++) {
            int64_t s0 = bs[w], len = bl[w];
            if (n_uniq * 2 >= cap) {                 /* keep the load under 1/2: double and rehash */
                int64_t ncap = cap * 2;
                slot_t *nt = (slot_t *)malloc((size_t)ncap * sizeof(slot_t));
                int64_t *na = (int64_t *)realloc(aoff, (size_t)(ncap / 2 + 1) * 8);
                if (na) aoff = na;
                if (!nt || !na) { free(nt); oom = 1; break; }
                memset(nt, 0xFF, (size_t)ncap * sizeof(slot_t));
                for (int64_t t = 0; t < cap; t++) {
                    if (table[t].id < 0) continue;
                    uint64_t hh = fmix64(table[t].hash) & (uint64_t)(ncap - 1);
                    while (nt[hh].id >= 0) hh = (hh + 1) & (uint64_t)(ncap - 1);
                    nt[hh] = table[t];
                }
                free(table); table = nt; cap = ncap;
            }
            uint64_t h = bk[w], hh = bh[w] & (uint64_t)(cap - 1);
            int64_t id;
            for (;;) {
                slot_t *sl = &table[hh];
                if (sl->id < 0) {
                    if (arena_len + len > arena_cap) {
                        while (arena_len + len > arena_cap) arena_cap *= 2;
                        unsigned char *nbuf = (unsigned char *)realloc(arena, (size_t)arena_cap);
                        if (!nbuf) { oom = 1; break; }
                        arena = nbuf;
                    }
                    memcpy(arena + arena_len, d + s0, (size_t)len);
                    arena_len += len;
                    id = n_uniq++;
                    aoff[n_uniq] = arena_len;
                    sl->hash = h;
                    sl->id = id;
                    break;
                }
                if (sl->hash == h) {
                    if (len <= 7) { id = sl->id; break; }          /* the key is the word */
                    if (aoff[sl->id + 1] - aoff[sl->id] == len
                            && memcmp(arena + aoff[sl->id], d + s0, (size_t)len) == 0) { id = sl->id; break; }
                }
                hh = (hh + 1) & (uint64_t)(cap - 1);
            }
            if (oom) break;
            ids[n_words++] = id;
            }
        }
    }
    woff[n] = n_words;
    Py_END_ALLOW_THREADS
    if (oom) { PyErr_NoMemory(); goto done; }
    ids_b = PyBytes_FromStringAndSize((const char *)ids, (Py_ssize_t)(n_words * 8));
    arena_b = PyBytes_FromStringAndSize((const char *)arena, (Py_ssize_t)arena_len);
    aoff_b = PyBytes_FromStringAndSize((const char *)aoff, (Py_ssize_t)((n_uniq + 1) * 8));
    if (ids_b && arena_b && aoff_b) result = PyTuple_Pack(4, ids_b, woff_b, arena_b, aoff_b);
done:
    free(table); free(ids); free(aoff); free(arena);
    Py_XDECREF(ids_b); Py_XDECREF(woff_b); Py_XDECREF(arena_b); Py_XDECREF(aoff_b);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offs);
    return result;
}

static PyObject *ngram_hashes(PyObject *self, PyObject *args) {
    Py_buffer idb, woffb, whb, cb;
    unsigned long long c_len;
    int ngram, keep_short;
    if (!PyArg_ParseTuple(args, "y*y*y*y*Kip", &idb, &woffb, &whb, &cb, &c_len, &ngram, &keep_short)) return NULL;
    PyObject *off_b = NULL, *h_b = NULL, *result = NULL;
    const int64_t *ids = (const int64_t *)idb.buf, *woff = (const int64_t *)woffb.buf;
    const uint64_t *wh = (const uint64_t *)whb.buf, *C = (const uint64_t *)cb.buf;
    Py_ssize_t n = woffb.len / 8 - 1, n_ids = idb.len / 8, n_wh = whb.len / 8;
    if (ngram < 1 || cb.len / 8 < ngram || woffb.len % 8 || n < 0 || idb.len % 8 || whb.len % 8) {
        PyErr_SetString(PyExc_ValueError, "bad arguments");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (woff[i] < 0 || woff[i + 1] < woff[i] || woff[i + 1] > n_ids) {
            PyErr_SetString(PyExc_ValueError, "word offsets out of range"); goto done;
        }
    for (Py_ssize_t j = 0; j < n_ids; j++)
        if (ids[j] < 0 || ids[j] >= n_wh) { PyErr_SetString(PyExc_ValueError, "word id out of range"); goto done; }
    off_b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * 8));
    if (!off_b) goto done;
    int64_t *out_off = (int64_t *)PyBytes_AS_STRING(off_b);
    int64_t total = 0;
    out_off[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t m = woff[i + 1] - woff[i];
        total += m >= ngram ? m - ngram + 1 : (m > 0 && keep_short ? 1 : 0);
        out_off[i + 1] = total;
    }
    h_b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(total * 8));
    if (!h_b) goto done;
    uint64_t *out = (uint64_t *)PyBytes_AS_STRING(h_b);
    int64_t maxw = 0;
    for (Py_ssize_t i = 0; i < n; i++) if (woff[i + 1] - woff[i] > maxw) maxw = woff[i + 1] - woff[i];
    uint64_t *g = (uint64_t *)malloc((size_t)(maxw > 0 ? maxw : 1) * 8);
    if (!g) { PyErr_NoMemory(); goto done; }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const int64_t *w = ids + woff[i];
        int64_t m = woff[i + 1] - woff[i];
        uint64_t *dst = out + out_off[i];
        if (m >= ngram) {
            /* the document's word hashes in order first (one scattered read per word, not per word and
             * window position), then each window from that buffer; 5-grams (the default) unrolled */
            for (int64_t j = 0; j < m; j++) g[j] = wh[w[j]];
            uint64_t base = (uint64_t)ngram * (uint64_t)c_len;
            if (ngram == 5) {
                const uint64_t c0 = C[0], c1 = C[1], c2 = C[2], c3 = C[3], c4 = C[4];
                for (int64_t s = 0; s + 5 <= m; s++)
                    dst[s] = fmix64(base + c0 * g[s] + c1 * g[s + 1] + c2 * g[s + 2] + c3 * g[s + 3] + c4 * g[s + 4]);
            } else {
                for (int64_t s = 0; s + ngram <= m; s++) {
                    uint64_t acc = base;
                    for (int k = 0; k < ngram; k++) acc += C[k] * g[s + k];
                    dst[s] = fmix64(acc);
                }
            }
        } else if (m > 0 && keep_short) {
            uint64_t acc = (uint64_t)m * (uint64_t)c_len;
            for (int64_t k = 0; k < m; k++) acc += C[k] * wh[w[k]];
            dst[0] = fmix64(acc);
        }
    }
    Py_END_ALLOW_THREADS
    free(g);
    result = PyTuple_Pack(2, off_b, h_b);
done:
    Py_XDECREF(off_b); Py_XDECREF(h_b);
    PyBuffer_Release(&idb); PyBuffer_Release(&woffb); PyBuffer_Release(&whb); PyBuffer_Release(&cb);
    return result;
}

static PyObject *affine32(PyObject *self, PyObject *args) { return run(args, 0); }
static PyObject *legacy(PyObject *self, PyObject *args) { return run(args, 1); }

static PyObject *available_kernels(PyObject *self, PyObject *noargs) {
    PyObject *t = PyTuple_New(best_kernel() + 1);
    if (!t) return NULL;
    for (int k = 0; k <= best_kernel(); k++) PyTuple_SET_ITEM(t, k, PyUnicode_FromString(KERNEL_NAMES[k]));
    return t;
}

static PyObject *set_kernel(PyObject *self, PyObject *arg) {
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name) return NULL;
    int k = -1;
    if (strcmp(name, "auto") != 0) {
        for (int j = 0; j < 3; j++) if (strcmp(name, KERNEL_NAMES[j]) == 0) k = j;
        if (k < 0) {
            PyErr_Format(PyExc_ValueError, "unknown MinHash kernel %R; choose auto, avx512, avx2 or portable", arg);
            return NULL;
        }
        if (k > best_kernel()) {
            PyErr_Format(PyExc_ValueError, "MinHash kernel %s needs a CPU feature this machine lacks; the best it runs is %s",
                         name, KERNEL_NAMES[best_kernel()]);
            return NULL;
        }
    }
    forced_kernel = k;
    return PyUnicode_FromString(KERNEL_NAMES[current_kernel()]);
}

static PyObject *set_simd(PyObject *self, PyObject *arg) {   /* older switch: False = portable, True = auto */
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    forced_kernel = on ? -1 : K_PORTABLE;
    return PyBool_FromLong(best_kernel() > K_PORTABLE);
}

static PyObject *kernel(PyObject *self, PyObject *noargs) {
    return PyUnicode_FromString(KERNEL_NAMES[current_kernel()]);
}

static PyMethodDef methods[] = {
    {"affine32", affine32, METH_VARARGS, "MinHash signatures, datasketch's affine32 scheme, into out."},
    {"legacy", legacy, METH_VARARGS, "MinHash signatures, datasketch's legacy scheme, into out."},
    {"word_ids", word_ids, METH_VARARGS, "Words of a batch of UTF-8 documents, numbered by distinct word."},
    {"ngram_hashes", ngram_hashes, METH_VARARGS, "64-bit hashes of the word n-grams (shingle._combine)."},
    {"set_kernel", set_kernel, METH_O, "Force a kernel ('avx512', 'avx2', 'portable') or 'auto'; returns the one in use."},
    {"available_kernels", available_kernels, METH_NOARGS, "The kernels this CPU runs, slowest first."},
    {"set_simd", set_simd, METH_O, "True: the best kernel (auto); False: the portable loops. Returns whether SIMD exists."},
    {"kernel", kernel, METH_NOARGS, "The kernel in use: 'avx512', 'avx2' or 'portable'."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastminhash", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastminhash(void) { return PyModule_Create(&module); }
