"""Output files: one rule for every file the library or the CLI writes.

* :func:`check_writable` runs BEFORE the work: missing parent directories are created; a target
  that is a directory, or whose directory cannot be created or written, is a
  :class:`~mipnn_pyomo.errors.ConfigError` with one line (the CLI's exit code 2).
* :func:`atomic_write_text` / :func:`atomic_write_bytes` / :func:`atomic_path` write a temporary
  file in the target's directory and ``os.replace`` it onto the target, so a failure (or a kill)
  never leaves half a file: the target holds either its old content or the complete new one.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mipnn_pyomo.errors import ConfigError


def _label(path: Path, what: str | None) -> str:
    return f"{what} {path}" if what else str(path)


def _make_directory(directory: Path, label: str) -> None:
    """Create ``directory`` and its parents; a file in the way or no permission is a ConfigError."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [directory, *directory.parents] if p.exists() and not p.is_dir()), directory)
        raise ConfigError(f"cannot write {label}: {blocker} is a file, not a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {label}: cannot create directory {directory}: {exc.strerror}") from None


def _probe(directory: Path, label: str) -> None:
    """Create and delete a file in ``directory``: the one test of writability that also holds for
    root, read-only file systems and ACLs."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".mipnn-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write {label}: directory {directory} is not writable ({exc.strerror})") from None


def check_writable(path: str | os.PathLike, what: str | None = None) -> Path:
    """The output file ``path`` can be written: its parent directories exist (created if missing)
    and accept a new file; ``path`` itself is not a directory. ``what`` names the option in the
    message (e.g. ``"--out"``). Returns ``path`` as a Path."""
    path = Path(path)
    label = _label(path, what)
    if str(path) == "" or path.is_dir():
        raise ConfigError(f"cannot write {label}: it is a directory; give a file name")
    directory = path.parent
    _make_directory(directory, label)
    _probe(directory, label)
    return path


def check_writable_directory(path: str | os.PathLike, what: str | None = None) -> Path:
    """The output directory ``path`` exists (created if missing, with its parents) and accepts new
    files; a file at ``path`` is an error. Returns ``path`` as a Path."""
    path = Path(path)
    label = _label(path, what)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"cannot write {label}: it is a file, not a directory")
    _make_directory(path, label)
    _probe(path, label)
    return path


def _new_temporary(path: Path) -> Path:
    """An empty new file next to ``path`` with the same suffix, created with mode 0666 minus the
    umask (as ``open(path, "w")`` would) or with ``path``'s own mode if it exists."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}"
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        if path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        return tmp
    raise FileExistsError(f"no free temporary name next to {path}")  # pragma: no cover


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same directory, same suffix, so writers that pick
    the format from the suffix still do); on a normal exit it replaces ``path``, on an exception it
    is removed and ``path`` is left as it was."""
    path = Path(path)
    tmp = _new_temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``). Returns the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (temporary file + ``os.replace``). Returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))
