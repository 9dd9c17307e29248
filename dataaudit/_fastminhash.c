/* The fast path of dataaudit.passes.lsh.MinHasher: the permutation-and-min step of MinHash in C.
 *
 * affine32(values, offsets, a, b, out)
 *   values   uint32[N]   32-bit shingle hashes of all documents back to back
 *   offsets  int64[n+1]  document i owns values[offsets[i]:offsets[i+1]]
 *   a, b     uint32[K]   datasketch's affine32 permutations (a odd)
 *   out      uint32[n*K] written in place, row-major: out[i*K + k] = min over the document of
 *                        a[k] * fmix32(h) + b[k]  (mod 2^32); 0xFFFFFFFF for a document with no values
 * legacy(values, offsets, a, b, out)
 *   a, b     uint64[K]   datasketch's legacy permutations
 *   out      uint32[n*K] min of ((a[k] * h + b[k]) mod 2^64) mod (2^61 - 1), low 32 bits
 *
 * Both are exactly the numpy path of lsh.py (the tests compare them bit for bit, and with datasketch).
 *
 * Layout of the work: documents one at a time; inside a document, permutations in blocks of 64 (eight
 * 8-lane vectors whose running minima stay in registers) and, per block, one pass over the document's
 * shingles: broadcast the shingle, one multiply, one add and one unsigned min per 8 permutations. The
 * shingle values (fmix32'd once per shingle for affine32) are read from L1 on every block pass. An AVX2
 * version is compiled with GCC/Clang function targets and picked at run time (__builtin_cpu_supports);
 * every other machine gets the portable loops, which give the same values. The GIL is released.
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

static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

/* ---------------------------------------------------------------------------------- portable kernels */

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
__attribute__((target("avx2")))
static void affine_doc_avx2(const uint32_t *x, int64_t m, const uint32_t *a, const uint32_t *b,
                            uint32_t *row, int K) {
    int k0 = 0;
    for (; k0 + 64 <= K; k0 += 64) {
        const __m256i *A = (const __m256i *)(a + k0), *B = (const __m256i *)(b + k0);
        __m256i a0 = _mm256_loadu_si256(A + 0), a1 = _mm256_loadu_si256(A + 1);
        __m256i a2 = _mm256_loadu_si256(A + 2), a3 = _mm256_loadu_si256(A + 3);
        __m256i a4 = _mm256_loadu_si256(A + 4), a5 = _mm256_loadu_si256(A + 5);
        __m256i a6 = _mm256_loadu_si256(A + 6), a7 = _mm256_loadu_si256(A + 7);
        __m256i m0 = _mm256_set1_epi32(-1), m1 = m0, m2 = m0, m3 = m0, m4 = m0, m5 = m0, m6 = m0, m7 = m0;
        for (int64_t i = 0; i < m; i++) {
            __m256i h = _mm256_set1_epi32((int)x[i]);
#define STEP(j) m##j = _mm256_min_epu32(m##j, _mm256_add_epi32(_mm256_mullo_epi32(a##j, h), \
                                                                _mm256_loadu_si256(B + j)))
            STEP(0); STEP(1); STEP(2); STEP(3); STEP(4); STEP(5); STEP(6); STEP(7);
#undef STEP
        }
        __m256i *R = (__m256i *)(row + k0);
        _mm256_storeu_si256(R + 0, m0); _mm256_storeu_si256(R + 1, m1);
        _mm256_storeu_si256(R + 2, m2); _mm256_storeu_si256(R + 3, m3);
        _mm256_storeu_si256(R + 4, m4); _mm256_storeu_si256(R + 5, m5);
        _mm256_storeu_si256(R + 6, m6); _mm256_storeu_si256(R + 7, m7);
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

/* legacy: 4 permutations per vector (64-bit lanes). a * h mod 2^64 from two 32x32->64 products:
 * a_lo * h + ((a_hi * h) << 32); values after "& 0xFFFFFFFF" are below 2^32, so a signed 64-bit compare
 * gives the unsigned min. */
__attribute__((target("avx2")))
static void legacy_doc_avx2(const uint32_t *x, int64_t m, const uint64_t *a, const uint64_t *b,
                            uint32_t *row, int K) {
    const __m256i P = _mm256_set1_epi64x((long long)MERSENNE61), LOW = _mm256_set1_epi64x(0xFFFFFFFFll);
    int k0 = 0;
    for (; k0 + 16 <= K; k0 += 16) {
        __m256i alo[4], ahi[4], bv[4], mv[4];
        for (int j = 0; j < 4; j++) {
            __m256i av = _mm256_loadu_si256((const __m256i *)(a + k0 + 4 * j));
            alo[j] = av;
            ahi[j] = _mm256_srli_epi64(av, 32);
            bv[j] = _mm256_loadu_si256((const __m256i *)(b + k0 + 4 * j));
            mv[j] = LOW;
        }
        for (int64_t i = 0; i < m; i++) {
            __m256i h = _mm256_set1_epi64x((long long)x[i]);
            for (int j = 0; j < 4; j++) {
                __m256i v = _mm256_add_epi64(_mm256_mul_epu32(alo[j], h),
                                             _mm256_slli_epi64(_mm256_mul_epu32(ahi[j], h), 32));
                v = _mm256_add_epi64(v, bv[j]);
                __m256i y = _mm256_add_epi64(_mm256_and_si256(v, P), _mm256_srli_epi64(v, 61));
                __m256i ge = _mm256_cmpgt_epi64(y, _mm256_sub_epi64(P, _mm256_set1_epi64x(1)));
                y = _mm256_sub_epi64(y, _mm256_and_si256(ge, P));
                y = _mm256_and_si256(y, LOW);
                mv[j] = _mm256_blendv_epi8(mv[j], y, _mm256_cmpgt_epi64(mv[j], y));
            }
        }
        for (int j = 0; j < 4; j++) {
            uint64_t tmp[4];
            _mm256_storeu_si256((__m256i *)tmp, mv[j]);
            for (int t = 0; t < 4; t++) row[k0 + 4 * j + t] = (uint32_t)tmp[t];
        }
    }
    if (k0 < K) legacy_doc_scalar(x, m, a + k0, b + k0, row + k0, K - k0);
}

static int have_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}
#else
static int have_avx2(void) { return 0; }
#endif

static int use_simd = 1;   /* set_simd(False) forces the portable loops (tests compare both) */

/* ------------------------------------------------------------------------------------------- Python */

static int check(Py_buffer *vals, Py_buffer *offs, Py_buffer *a, Py_buffer *b, Py_buffer *out,
                 Py_ssize_t width, Py_ssize_t *n_docs, Py_ssize_t *K) {
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
    int64_t nv = vals->len / 4;
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
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &vals, &offs, &a, &b, &out)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n_docs, K;
    if (check(&vals, &offs, &a, &b, &out, legacy ? 8 : 4, &n_docs, &K) < 0) goto done;
    if (K > 0x7FFFFFFF) { PyErr_SetString(PyExc_ValueError, "num_perm too large"); goto done; }
    const int64_t *o = (const int64_t *)offs.buf;
    const uint32_t *v = (const uint32_t *)vals.buf;
    uint32_t *sig = (uint32_t *)out.buf;
    int64_t maxlen = 0;
    for (Py_ssize_t i = 0; i < n_docs; i++) if (o[i + 1] - o[i] > maxlen) maxlen = o[i + 1] - o[i];
    uint32_t *x = NULL;
    if (!legacy && maxlen > 0 && !(x = (uint32_t *)malloc((size_t)maxlen * 4))) { PyErr_NoMemory(); goto done; }
    int simd = use_simd && have_avx2();
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_docs; i++) {
        int64_t m = o[i + 1] - o[i];
        uint32_t *row = sig + (size_t)i * (size_t)K;
        if (m == 0) { memset(row, 0xFF, (size_t)K * 4); continue; }
        const uint32_t *h = v + o[i];
        if (legacy) {
#ifdef DA_X86
            if (simd) { legacy_doc_avx2(h, m, (const uint64_t *)a.buf, (const uint64_t *)b.buf, row, (int)K); continue; }
#endif
            legacy_doc_scalar(h, m, (const uint64_t *)a.buf, (const uint64_t *)b.buf, row, (int)K);
            continue;
        }
        for (int64_t j = 0; j < m; j++) x[j] = fmix32(h[j]);
#ifdef DA_X86
        if (simd) { affine_doc_avx2(x, m, (const uint32_t *)a.buf, (const uint32_t *)b.buf, row, (int)K); continue; }
#endif
        affine_doc_scalar(x, m, (const uint32_t *)a.buf, (const uint32_t *)b.buf, row, 0, (int)K);
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

static PyObject *affine32(PyObject *self, PyObject *args) { return run(args, 0); }
static PyObject *legacy(PyObject *self, PyObject *args) { return run(args, 1); }

static PyObject *set_simd(PyObject *self, PyObject *arg) {
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    use_simd = on;
    return PyBool_FromLong(have_avx2());
}

static PyObject *kernel(PyObject *self, PyObject *noargs) {
    return PyUnicode_FromString(use_simd && have_avx2() ? "avx2" : "portable");
}

static PyMethodDef methods[] = {
    {"affine32", affine32, METH_VARARGS, "MinHash signatures, datasketch's affine32 scheme, into out."},
    {"legacy", legacy, METH_VARARGS, "MinHash signatures, datasketch's legacy scheme, into out."},
    {"set_simd", set_simd, METH_O, "Allow (True) or forbid (False) the AVX2 kernels; returns whether AVX2 exists."},
    {"kernel", kernel, METH_NOARGS, "The kernel in use: 'avx2' or 'portable'."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastminhash", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastminhash(void) { return PyModule_Create(&module); }
