import subprocess
import sys

import dataaudit


def test_every_export_resolves():
    for name in dataaudit.__all__:
        assert getattr(dataaudit, name) is not None, name


def test_import_and_help_do_not_load_torch():
    code = ("import sys, dataaudit.cli; dataaudit.cli.build_parser(); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
