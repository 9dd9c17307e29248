"""Only the optional C accelerator lives here; everything else is in pyproject.toml.

If it cannot be compiled (no C compiler), dataaudit falls back to the pure-Python path with identical results.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("dataaudit._fastnorm", ["dataaudit/_fastnorm.c"], optional=True)])
