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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *normalize_batch(PyObject *self, PyObject *args) {
    Py_buffer data, offs, moff, mlen, pool;
    int collapse;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*p", &data, &offs, &moff, &mlen, &pool, &collapse)) return NULL;
    PyObject *out = NULL, *out_offs = NULL, *unsafe = NULL, *result = NULL;
    if (moff.len != 65536 * 4 || mlen.len != 65536 || offs.len % 8 != 0 || offs.len < 8) {
        PyErr_SetString(PyExc_ValueError, "bad table or offsets shape");
        goto done;
    }
    const int64_t *o = (const int64_t *)offs.buf;
    Py_ssize_t n = offs.len / 8 - 1;
    const unsigned char *src = (const unsigned char *)data.buf;
    const int32_t *mo = (const int32_t *)moff.buf;
    const unsigned char *ml = (const unsigned char *)mlen.buf, *pl = (const unsigned char *)pool.buf;
    int64_t base = o[0], end = o[n];
    if (base < 0 || end < base || end > (int64_t)data.len) {
        PyErr_SetString(PyExc_ValueError, "offsets out of range");
        goto done;
    }
    /* text.py marks unsafe any code point whose form is over 4x its own UTF-8 length: bound the output */
    Py_ssize_t cap = (Py_ssize_t)(end - base) * 4 + 16;
    out = PyBytes_FromStringAndSize(NULL, cap);
    out_offs = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * 8));
    unsafe = PyBytes_FromStringAndSize(NULL, n);
    if (!out || !out_offs || !unsafe) goto done;
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
    int64_t *oo = (int64_t *)PyBytes_AS_STRING(out_offs);
    unsigned char *us = (unsigned char *)PyBytes_AS_STRING(unsafe);
    int64_t w = 0;
    unsigned char asc[128];  /* every ASCII code point maps to exactly one byte (text.py asserts this) */
    for (int c = 0; c < 128; c++) asc[c] = ml[c] == 1 ? pl[mo[c]] : (unsigned char)c;
    Py_BEGIN_ALLOW_THREADS
    /* Branch-free emit: write the byte, advance unless it is a space right after a space (or at the
     * start of the document, where last_sp starts at 1); a trailing space is dropped at the end. */
#define EMIT(ch) do { unsigned char c_ = (ch); int sp_ = (c_ == ' ') & collapse; dst[w] = c_; \
                      w += !(sp_ & last_sp); last_sp = sp_; } while (0)
    for (Py_ssize_t i = 0; i < n; i++) {
        oo[i] = w;
        us[i] = 0;
        int64_t a = o[i], b = o[i + 1];
        if (a < base) a = base;
        if (b > end) b = end;
        int last_sp = collapse;
        int64_t start = w;
        int64_t k = a;
        while (k < b) {
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
            } else { us[i] = 1; break; }  /* 4-byte sequence (outside the BMP) or malformed */
            k += nb;
            unsigned char len = ml[cp];
            if (len == 255) { us[i] = 1; break; }
            const unsigned char *m = pl + mo[cp];
            for (unsigned char j = 0; j < len; j++) EMIT(m[j]);
        }
        if (collapse && w > start && dst[w - 1] == ' ') w--;
        if (us[i]) w = start;
    }
#undef EMIT
    oo[n] = w;
    Py_END_ALLOW_THREADS
    if (_PyBytes_Resize(&out, (Py_ssize_t)w) < 0) { out = NULL; goto done; }
    result = PyTuple_Pack(3, out, out_offs, unsafe);
done:
    Py_XDECREF(out);
    Py_XDECREF(out_offs);
    Py_XDECREF(unsafe);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offs);
    PyBuffer_Release(&moff);
    PyBuffer_Release(&mlen);
    PyBuffer_Release(&pool);
    return result;
}

static PyMethodDef methods[] = {
    {"normalize_batch", normalize_batch, METH_VARARGS, "Normalize a batch of UTF-8 documents by table."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastnorm", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastnorm(void) { return PyModule_Create(&module); }
