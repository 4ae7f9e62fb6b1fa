"""Filesystem sealing of a method process with Landlock (Linux 5.13+, no privileges).

Landlock is an allow-list: once :func:`seal` has run, this process (and every
process it starts) can read only the folders given as ``readable`` and write
only those given as ``writable``; every other path fails with
``PermissionError``. The method process seals itself before it imports a
method's file, so no method code ever runs with the data folder, the stimulus
folder or ``/proc`` (where the parent's command line is) readable. Where the
kernel supports it (ABI 6, Linux 6.12+), the process is also scoped: it cannot
signal processes outside its domain (its parent, the evaluator) or connect to
their abstract Unix sockets.

Python's standard library has no binding; the three system calls are made
through ``ctypes`` (numbers are the same on x86_64 and aarch64).
"""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path
from typing import Iterable

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3

_ABI1_RIGHTS = (1 << 13) - 1
#: Rights that apply to a file (a rule on a file may grant only these).
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
READ_RIGHTS = EXECUTE | READ_FILE | READ_DIR
WRITE_RIGHTS = READ_RIGHTS | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SYM | MAKE_FIFO | MAKE_SOCK | REFER | TRUNCATE

_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1  # ABI 6


class SealError(OSError):
    """Landlock is not available here, or a rule could not be added."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 where Landlock is unavailable (other OS, old kernel, disabled)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64", "amd64", "arm64"):
        return 0
    try:
        version = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return int(version) if version > 0 else 0


def _handled_rights(abi: int) -> int:
    rights = _ABI1_RIGHTS
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    return rights


#: Rights on a device file (or a folder of them) opened read-write: reading and writing its
#: contents, listing a folder; never creating, removing or renaming anything.
DEVICE_RIGHTS = READ_FILE | WRITE_FILE | READ_DIR


def seal(readable: Iterable[str | Path], writable: Iterable[str | Path] = (), devices: Iterable[str | Path] = ()) -> int:
    """Restrict this process to reading ``readable`` and writing ``writable`` folders (or files),
    and to opening the ``devices`` (device files, e.g. a GPU's) for reading and writing.

    Paths that do not exist are skipped. Irreversible for this process and its children.

    Returns
    -------
    int
        The Landlock ABI version used.

    Raises
    ------
    SealError
        Landlock is unavailable, or the kernel refused the ruleset.
    """
    abi = abi_version()
    if abi < 1:
        raise SealError("Landlock is not available on this kernel")
    libc = _libc()
    handled = _handled_rights(abi)
    attr = _RulesetAttr(handled_access_fs=handled, handled_access_net=0, scoped=(_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 8
    ruleset_fd = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset_fd < 0:
        raise SealError(f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}")
    try:
        rules = [(Path(p), READ_RIGHTS) for p in readable] + [(Path(p), WRITE_RIGHTS) for p in writable] + [(Path(p), DEVICE_RIGHTS) for p in devices]
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                allowed = rights & handled
                if not path.is_dir():
                    allowed &= _FILE_RIGHTS
                rule = _PathBeneathAttr(allowed_access=allowed, parent_fd=fd)
                if libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                    raise SealError(f"landlock_add_rule({path}) failed: {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise SealError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}")
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) < 0:
            raise SealError(f"landlock_restrict_self failed: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset_fd)
    return abi
