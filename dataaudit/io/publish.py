"""Publishing an output directory: a lock, staging on the target's filesystem, a swap, stale-staging cleanup.

A run writes everything into ``OUT/.dataaudit/staging-<pid>-<n>/`` (inside the target, so on the same
filesystem: the final renames cannot fail with EXDEV) while holding ``OUT/.dataaudit/lock`` (``fcntl.flock``;
a second run into the same directory is refused). ``publish()`` moves the staged files into ``OUT``
(findings first, ``report.json`` last), removes the files the previous run published that this one did not
write (read from ``OUT/.dataaudit/manifest.json``; the user's own files are never touched), and records
the new manifest. A staging directory left behind by a killed run is removed by the next run that takes
the lock. Files get the user's umask.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator

from .. import interrupt
from ..errors import InputError

META_DIR = ".dataaudit"
_LAST = ("report.html", "report.md", "report.json")   # published last, in this order


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def check_out_dir(out: Path, inputs: Iterable[Any] = ()) -> Path:
    """Refuse an output directory that is a file, or that is or contains an input (or lies inside one)."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; choose a directory path")
    ro = out.resolve()
    for i in inputs:
        if not isinstance(i, (str, os.PathLike)):
            continue
        s = str(i)
        if any(ch in s for ch in "*?["):          # a glob: check its fixed prefix directory
            s = s[: min(s.index(ch) for ch in "*?[" if ch in s)]
            s = os.path.dirname(s) or "."
        p = Path(s).expanduser().resolve()
        if ro == p or _inside(p, ro) or (p.is_dir() and _inside(ro, p)):
            raise InputError(f"--out {out}: is, contains or lies inside the input {i}; the next run would read "
                             f"the report as data. Choose an output directory outside the inputs")
    return out


class Publisher:
    """``with Publisher(out, inputs) as pub: write into pub.stage ...; pub.publish(files)``.

    Leaving the block without ``publish`` (an error, Ctrl-C) removes the staging directory and leaves the
    previous contents of ``out`` as they were.
    """

    def __init__(self, out: str | os.PathLike, inputs: Iterable[Any] = ()) -> None:
        self.out = check_out_dir(Path(out), inputs)
        self.meta = self.out / META_DIR
        self.stage: Path = self.meta / "staging"
        self._lock_fd: int | None = None
        self._forget: Any = None
        self.published = False
        self._created = not self.out.exists()

    def __enter__(self) -> "Publisher":
        try:
            with interrupt.deferred():
                self._enter()
        except BaseException:
            if self._lock_fd is not None:    # ours: undo it (a run that holds the lock is never touched)
                self.__exit__(None, None, None)
            raise
        return self

    def _enter(self) -> None:
        try:
            self.meta.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"--out {self.out}: cannot create the directory ({e.strerror}); check the path and "
                             f"its permissions, or choose another --out") from None
        import fcntl

        try:
            fd = os.open(self.meta / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise InputError(f"--out {self.out}: not writable ({e.strerror}); choose a writable --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = ""
            with contextlib.suppress(OSError, ValueError):
                other = f" (pid {int(os.pread(fd, 32, 0).split()[0])})"
            os.close(fd)
            raise InputError(f"--out {self.out}: another dataaudit run is writing there{other}; wait for it to "
                             f"finish or choose another --out") from None
        self._lock_fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        # we hold the lock: whatever staging exists was left by a killed run
        for old in self.meta.glob("staging*"):
            shutil.rmtree(old, ignore_errors=True)
        self.stage = self.meta / f"staging-{os.getpid()}"
        self._forget = interrupt.on_forced_exit(self.stage)     # a run ended by the watchdog removes it too
        try:
            self.stage.mkdir()
        except OSError as e:
            self._unlock()
            raise InputError(f"--out {self.out}: cannot write there ({e.strerror}); choose a writable --out") \
                from None

    def _previous(self) -> list[str]:
        try:
            return list(json.loads((self.meta / "manifest.json").read_text())["files"])
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def publish(self) -> list[str]:
        """Move every top-level entry of the staging directory into ``out``; returns their names. A Ctrl-C
        meanwhile takes effect once the new report is complete (``interrupt.deferred``)."""
        with interrupt.deferred(publishing=True):
            names = self._publish()
            interrupt.note_published()
            return names

    def _publish(self) -> list[str]:
        names = sorted(os.listdir(self.stage), key=lambda n: (_LAST.index(n) if n in _LAST else -1, n))
        old = [n for n in self._previous() if n not in names and "/" not in n and n not in (META_DIR, "")]
        try:
            for n in old:                                   # stale findings of the previous report
                p = self.out / n
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
            for n in names:
                src, dst = self.stage / n, self.out / n
                if dst.is_dir() and not dst.is_symlink():
                    shutil.rmtree(dst)
                os.replace(src, dst)
            tmp = self.meta / "manifest.json.tmp"
            tmp.write_text(json.dumps({"files": names}) + "\n")
            os.replace(tmp, self.meta / "manifest.json")
        except OSError as e:
            if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise InputError(f"--out {self.out}: cannot write there ({e.strerror}); choose a writable --out") \
                    from None
            raise
        self.published = True
        return names

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __exit__(self, *exc: Any) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)
        if self._forget is not None:
            self._forget()
        fresh = not (self.meta / "manifest.json").exists()   # nothing was ever published here
        self._unlock()
        if not self.published and fresh:
            # leave no trace of a failed first run: the metadata directory, and ``out`` if this run made it
            shutil.rmtree(self.meta, ignore_errors=True)
            if self._created:
                with contextlib.suppress(OSError):
                    self.out.rmdir()


@contextlib.contextmanager
def publishing(out: str | os.PathLike, inputs: Iterable[Any] = ()) -> Iterator[Publisher]:
    with Publisher(out, inputs) as p:
        yield p
