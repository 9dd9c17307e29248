/* The fast path of dataaudit.text.normalized_bytes: one pass over a batch of UTF-8 documents.
 *
 * normalize_batch(data, offsets, map_off, map_len, pool, collapse) -> (out, out_offsets, unsafe)
 *   data      concatenated UTF-8 bytes of n documents (an Arrow string array's data buffer, validated)
 *   offsets   int64[n+1] byte offsets of each document in data
 *   map_off   int32[65536]  per BMP code point: offset of its normalized form in pool
 *   map_len   uint8[65536]  per BMP code point: byte length of its normalized form; 255 = "not safe here"
 *   pool      the normalized forms, concatenated (UTF-8)
 *   collapse  when true, spaces in the mapped text collapse to one and the ends are trimmed
 * Returns the normalized bytes, int64[n+1] offsets into them, and one byte per document that is 1 when
 * the document holds a code point the table cannot handle alone (outside the BMP, or one whose
 * normalization depends on its neighbours); the caller normalizes those documents with the reference path.
 * text.py builds the table from the reference path itself, one code point at a time.
 *
 * hash_batch(data, offsets, map_off, map_len, pool, collapse) -> (digests, unsafe)
 *   the same normalization, each document normalized into a small scratch buffer (cache-resident, never a
 *   whole-batch blob) and hashed there with XXH3-128: 16 bytes per document, the canonical (big-endian)
 *   form xxhash.xxh3_128_digest returns; unsafe documents get 16 zero bytes and are the caller's to redo.
 *   The XXH3-128 function is not ours: bind_xxh3(path) resolves XXH3_128bits from a shared library that
 *   exports it (the `xxhash` package's own extension, else the system libxxhash); exact.py checks the
 *   bound function against xxhash.xxh3_128_digest before using it, and hashes in Python when binding fails.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#ifndef _WIN32
#include <dlfcn.h>
#endif

typedef struct { uint64_t low64, high64; } xxh128_t;   /* XXH128_hash_t of xxhash.h (xxhash >= 0.8) */
typedef xxh128_t (*xxh3_128_fn)(const void *, size_t);
static xxh3_128_fn xxh3_128 = NULL;

/* One document src[a:b] -> dst (which has room for 4 * (b - a) + 16 bytes); returns the bytes written, or -1
 * when the document holds a code point the table cannot handle alone. Branch-free emit: write the byte,
 * advance unless it is a space right after a space (or at the start, where last_sp starts at 1); a trailing
 * space is dropped at the end. Runs of 8 ASCII bytes take an unrolled path with no per-byte branch. */
static inline int64_t norm_doc(const unsigned char *src, int64_t a, int64_t b, unsigned char *dst,
                               const unsigned char *asc, const int32_t *mo, const unsigned char *ml,
                               const unsigned char *pl, int collapse) {
    int64_t w = 0;
    int last_sp = collapse;
#define EMIT(ch) do { unsigned char c_ = (ch); int sp_ = (c_ == ' ') & collapse; dst[w] = c_; \
                      w += !(sp_ & last_sp); last_sp = sp_; } while (0)
    int64_t k = a;
    while (k < b) {
        while (k + 8 <= b) {
            uint64_t v;
            memcpy(&v, src + k, 8);
            if (v & 0x8080808080808080ULL) break;
            const unsigned char *s8 = src + k;
            EMIT(asc[s8[0]]); EMIT(asc[s8[1]]); EMIT(asc[s8[2]]); EMIT(asc[s8[3]]);
            EMIT(asc[s8[4]]); EMIT(asc[s8[5]]); EMIT(asc[s8[6]]); EMIT(asc[s8[7]]);
            k += 8;
        }
        if (k >= b) break;
        unsigned char c0 = src[k];
        if (c0 < 0x80) {
            EMIT(asc[c0]);
            k++;
            continue;
        }
        uint32_t cp;
        int nb;
        if ((c0 & 0xE0) == 0xC0 && k + 1 < b) { cp = ((c0 & 0x1Fu) << 6) | (src[k + 1] & 0x3Fu); nb = 2; }
        else if ((c0 & 0xF0) == 0xE0 && k + 2 < b) {
            cp = ((c0 & 0x0Fu) << 12) | ((src[k + 1] & 0x3Fu) << 6) | (src[k + 2] & 0x3Fu); nb = 3;
        } else return -1;  /* 4-byte sequence (outside the BMP) or malformed */
        k += nb;
        unsigned char len = ml[cp];
        if (len == 255) return -1;
        const unsigned char *m = pl + mo[cp];
        for (unsigned char j = 0; j < len; j++) EMIT(m[j]);
    }
#undef EMIT
    if (collapse && w > 0 && dst[w - 1] == ' ') w--;
    return w;
}


typedef struct {
    Py_buffer data, offs, moff, mlen, pool;
    const int64_t *o;
    Py_ssize_t n;
    int64_t base, end;
    unsigned char asc[128];  /* every ASCII code point maps to exactly one byte (text.py asserts this) */
} batch_args;

static void release_args(batch_args *t) {
    PyBuffer_Release(&t->data);
    PyBuffer_Release(&t->offs);
    PyBuffer_Release(&t->moff);
    PyBuffer_Release(&t->mlen);
    PyBuffer_Release(&t->pool);
}

/* Parse and check the arguments both functions share; on failure the buffers are released. */
static int parse_args(PyObject *args, batch_args *t, int *collapse) {
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*p", &t->data, &t->offs, &t->moff, &t->mlen, &t->pool, collapse))
        return 0;
    if (t->moff.len != 65536 * 4 || t->mlen.len != 65536 || t->offs.len % 8 != 0 || t->offs.len < 8) {
        PyErr_SetString(PyExc_ValueError, "bad table or offsets shape");
        release_args(t);
        return 0;
    }
    t->o = (const int64_t *)t->offs.buf;
    t->n = t->offs.len / 8 - 1;
    t->base = t->o[0];
    t->end = t->o[t->n];
    if (t->base < 0 || t->end < t->base || t->end > (int64_t)t->data.len) {
        PyErr_SetString(PyExc_ValueError, "offsets out of range");
        release_args(t);
        return 0;
    }
    const int32_t *mo = (const int32_t *)t->moff.buf;
    const unsigned char *ml = (const unsigned char *)t->mlen.buf, *pl = (const unsigned char *)t->pool.buf;
    for (int c = 0; c < 128; c++) t->asc[c] = ml[c] == 1 ? pl[mo[c]] : (unsigned char)c;
    return 1;
}

/* document i's byte range, clamped to [base, end] */
static inline void doc_range(const batch_args *t, Py_ssize_t i, int64_t *a, int64_t *b) {
    int64_t x = t->o[i], y = t->o[i + 1];
    if (x < t->base) x = t->base;
    if (y > t->end) y = t->end;
    if (y < x) y = x;
    *a = x;
    *b = y;
}

static PyObject *normalize_batch(PyObject *self, PyObject *args) {
    batch_args t;
    int collapse;
    if (!parse_args(args, &t, &collapse)) return NULL;
    PyObject *out = NULL, *out_offs = NULL, *unsafe = NULL, *result = NULL;
    Py_ssize_t n = t.n;
    /* text.py marks unsafe any code point whose form is over 4x its own UTF-8 length: bound the output */
    Py_ssize_t cap = (Py_ssize_t)(t.end - t.base) * 4 + 16;
    out = PyBytes_FromStringAndSize(NULL, cap);
    out_offs = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * 8));
    unsafe = PyBytes_FromStringAndSize(NULL, n);
    if (!out || !out_offs || !unsafe) goto done;
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
    int64_t *oo = (int64_t *)PyBytes_AS_STRING(out_offs);
    unsigned char *us = (unsigned char *)PyBytes_AS_STRING(unsafe);
    const unsigned char *src = (const unsigned char *)t.data.buf;
    const int32_t *mo = (const int32_t *)t.moff.buf;
    const unsigned char *ml = (const unsigned char *)t.mlen.buf, *pl = (const unsigned char *)t.pool.buf;
    int64_t w = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t a, b;
        doc_range(&t, i, &a, &b);
        oo[i] = w;
        int64_t len = norm_doc(src, a, b, dst + w, t.asc, mo, ml, pl, collapse);
        us[i] = len < 0;
        if (len > 0) w += len;
    }
    oo[n] = w;
    Py_END_ALLOW_THREADS
    if (_PyBytes_Resize(&out, (Py_ssize_t)w) < 0) { out = NULL; goto done; }
    result = PyTuple_Pack(3, out, out_offs, unsafe);
done:
    Py_XDECREF(out);
    Py_XDECREF(out_offs);
    Py_XDECREF(unsafe);
    release_args(&t);
    return result;
}

static PyObject *hash_batch(PyObject *self, PyObject *args) {
    if (xxh3_128 == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no XXH3-128 function bound (bind_xxh3)");
        return NULL;
    }
    batch_args t;
    int collapse;
    if (!parse_args(args, &t, &collapse)) return NULL;
    PyObject *digests = NULL, *unsafe = NULL, *result = NULL;
    unsigned char *scratch = NULL;
    Py_ssize_t n = t.n;
    int64_t longest = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t a, b;
        doc_range(&t, i, &a, &b);
        if (b - a > longest) longest = b - a;
    }
    scratch = (unsigned char *)malloc((size_t)longest * 4 + 16);
    digests = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n * 16);
    unsafe = PyBytes_FromStringAndSize(NULL, n);
    if (!scratch) PyErr_NoMemory();
    if (!scratch || !digests || !unsafe) goto done;
    unsigned char *dg = (unsigned char *)PyBytes_AS_STRING(digests);
    unsigned char *us = (unsigned char *)PyBytes_AS_STRING(unsafe);
    const unsigned char *src = (const unsigned char *)t.data.buf;
    const int32_t *mo = (const int32_t *)t.moff.buf;
    const unsigned char *ml = (const unsigned char *)t.mlen.buf, *pl = (const unsigned char *)t.pool.buf;
    xxh3_128_fn h = xxh3_128;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t a, b;
        doc_range(&t, i, &a, &b);
        int64_t len = norm_doc(src, a, b, scratch, t.asc, mo, ml, pl, collapse);
        unsigned char *d = dg + 16 * i;
        us[i] = len < 0;
        if (len < 0) { memset(d, 0, 16); continue; }
        xxh128_t r = h(scratch, (size_t)len);
        for (int j = 0; j < 8; j++) {   /* XXH128_canonicalFromHash: high64 then low64, each big-endian */
            d[j] = (unsigned char)(r.high64 >> (56 - 8 * j));
            d[8 + j] = (unsigned char)(r.low64 >> (56 - 8 * j));
        }
    }
    Py_END_ALLOW_THREADS
    result = PyTuple_Pack(2, digests, unsafe);
done:
    free(scratch);
    Py_XDECREF(digests);
    Py_XDECREF(unsafe);
    release_args(&t);
    return result;
}

/* bind_xxh3(path) -> bool: resolve XXH3_128bits (the runtime-dispatching variant first) in the shared
 * library at path (already loaded, or loadable). False, with nothing bound, when it is not there. */
static PyObject *bind_xxh3(PyObject *self, PyObject *args) {
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
#ifdef _WIN32
    Py_RETURN_FALSE;
#else
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) Py_RETURN_FALSE;
    void *f = dlsym(lib, "XXH3_128bits_dispatch");
    if (f == NULL) f = dlsym(lib, "XXH3_128bits");
    if (f == NULL) { dlclose(lib); Py_RETURN_FALSE; }
    xxh3_128 = (xxh3_128_fn)f;   /* the library stays loaded for the life of the process */
    Py_RETURN_TRUE;
#endif
}

static PyMethodDef methods[] = {
    {"normalize_batch", normalize_batch, METH_VARARGS, "Normalize a batch of UTF-8 documents by table."},
    {"hash_batch", hash_batch, METH_VARARGS, "Normalize and XXH3-128 a batch of UTF-8 documents by table."},
    {"bind_xxh3", bind_xxh3, METH_VARARGS, "Bind XXH3_128bits from a shared library; True when found."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastnorm", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastnorm(void) { return PyModule_Create(&module); }
