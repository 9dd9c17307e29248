"""Only the optional C accelerators live here; everything else is in pyproject.toml.

- ``dataaudit._fastnorm``: the table-driven fast path of text normalization (``dataaudit.text``), and the
  exact pass's normalize-and-hash loop, which calls XXH3-128 from the ``xxhash`` package's extension (or
  the system libxxhash), found with dlopen at run time: nothing of xxhash is compiled in;
- ``dataaudit._fastminhash``: the permutation-and-min step of MinHash (``dataaudit.passes.lsh``), with an
  AVX-512 or AVX2 kernel chosen at run time on x86 (function targets: no -m flags needed) and portable
  loops elsewhere.

If one cannot be compiled (no C compiler), dataaudit falls back to the numpy/Python path with identical results.
"""
import sys

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("dataaudit._fastnorm", ["dataaudit/_fastnorm.c"], optional=True,
              libraries=["dl"] if sys.platform.startswith("linux") else []),   # dlopen (glibc < 2.34)
    Extension("dataaudit._fastminhash", ["dataaudit/_fastminhash.c"], optional=True),
])
