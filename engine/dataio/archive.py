"""The backup file: a zip archive, optionally sealed with AES-256-GCM, written atomically.

Layout of the zip (see docs/backup.md)::

    manifest.json              versions, packs, counts and checksums
    tables/NAME.jsonl          one JSON object per row, for every table (the run-time
                               metadata overlays are tables/tessera_overlay.jsonl)
    files/SHA256               the content of every uploaded file

Zip rather than tar: members can be read in any order (the manifest first) without
unpacking, and Python writes members as streams, so memory stays flat.

An encrypted backup is the whole zip sealed in 1 MiB chunks (AES-256-GCM from
``cryptography``). The key is derived with HKDF from the key text and a random salt in the
header; each chunk's nonce is a random prefix plus the chunk number, and the chunk number
and a last-chunk flag are authenticated, so a reordered, cut or altered file fails to
decrypt rather than restoring something else. The header also holds a key check (a second
value derived from the key and salt), so a wrong key is told apart from a damaged file;
archives of the first encrypted format (``MAGIC_V1``, without the check) still open, but
there a failing first chunk can only be reported as "wrong key, or damaged".

Every file is written to a temporary name beside the target and renamed into place only
when complete: a full disk or a crash leaves the previous backup untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.errors import TesseraError

MAGIC = b"TESSERA-BACKUP-AESGCM-2\n"
#: the first encrypted format: the same, without the key check in the header
MAGIC_V1 = b"TESSERA-BACKUP-AESGCM-1\n"
CHUNK = 1024 * 1024
_SALT, _PREFIX, _CHECK = 16, 8, 16
_LENGTH = struct.Struct(">I")
MIN_KEY_LENGTH = 16
T = TypeVar("T")


class BackupError(TesseraError):
    """A backup or restore cannot go on; the message says why in one line."""


@contextlib.contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed to it on success, removed on failure."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise BackupError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        with temp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)


def read_key(text: str | bytes | None) -> bytes | None:
    """The key text (from a key file or TESSERA_BACKUP_KEY), checked for a sensible length."""
    if text is None:
        return None
    raw = (text.encode() if isinstance(text, str) else text).strip()
    if len(raw) < MIN_KEY_LENGTH:
        raise BackupError(f"the backup key is too short: give at least {MIN_KEY_LENGTH} characters")
    return raw


def key_from_file(path: Path) -> bytes | None:
    try:
        return read_key(Path(path).read_bytes())
    except OSError as exc:
        raise BackupError(f"cannot read the key file {path}: {exc.strerror or exc}") from None


def _aead(key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"tessera-backup").derive(key)
    return AESGCM(derived)


def _key_check(key: bytes, salt: bytes) -> bytes:
    """A value only the right key gives (independent of the encryption key by its HKDF info)."""
    return HKDF(algorithm=hashes.SHA256(), length=_CHECK, salt=salt, info=b"tessera-backup-key-check").derive(key)


def _aad(header: bytes, number: int, last: bool) -> bytes:
    return header + struct.pack(">Q?", number, last)


def encrypt_file(source: Path, target: Path, key: bytes) -> None:
    """Seal ``source`` into ``target`` chunk by chunk."""
    salt, prefix = secrets.token_bytes(_SALT), secrets.token_bytes(_PREFIX)
    header = MAGIC + salt + prefix + _key_check(key, salt)
    aead = _aead(key, salt)
    with source.open("rb") as src, target.open("wb") as out:
        out.write(header)
        number, chunk = 0, src.read(CHUNK)
        while True:
            following = src.read(CHUNK)
            last = not following
            nonce = prefix + struct.pack(">I", number)
            sealed = aead.encrypt(nonce, chunk, _aad(header, number, last))
            out.write(_LENGTH.pack(len(sealed)) + sealed)
            if last:
                return
            number, chunk = number + 1, following


def is_encrypted(path: Path) -> bool:
    with Path(path).open("rb") as fh:
        return fh.read(len(MAGIC)) in (MAGIC, MAGIC_V1)


def _open_header(src: IO[bytes], source: Path, key: bytes) -> tuple[bytes, AESGCM, bytes, bool]:
    """Read the header: (header bytes, cipher, nonce prefix, whether the key was checked)."""
    magic = src.read(len(MAGIC))
    checked = magic == MAGIC
    rest = src.read(_SALT + _PREFIX + (_CHECK if checked else 0))
    if len(rest) < _SALT + _PREFIX + (_CHECK if checked else 0):
        raise BackupError(f"{source} is cut short: the encrypted backup is incomplete")
    salt, prefix = rest[:_SALT], rest[_SALT : _SALT + _PREFIX]
    if checked and not secrets.compare_digest(rest[_SALT + _PREFIX :], _key_check(key, salt)):
        raise BackupError(f"cannot decrypt {source}: wrong backup key (or not this backup's key)")
    return magic + rest, _aead(key, salt), prefix, checked


def decrypt_file(source: Path, target: Path, key: bytes) -> None:
    """Open a sealed backup into ``target``; a wrong key or a damaged file is one clear error."""
    with source.open("rb") as src, target.open("wb") as out:
        header, aead, prefix, checked = _open_header(src, source, key)
        number = 0
        while True:
            size = src.read(_LENGTH.size)
            if len(size) < _LENGTH.size:
                raise BackupError(f"{source} is cut short: the encrypted backup is incomplete")
            sealed = src.read(_LENGTH.unpack(size)[0])
            last = src.peek(1) == b""
            nonce = prefix + struct.pack(">I", number)
            try:
                out.write(aead.decrypt(nonce, sealed, _aad(header, number, last)))
            except InvalidTag:
                if number == 0 and not checked:  # the first format cannot tell these apart
                    raise BackupError(f"cannot decrypt {source}: wrong backup key, or the archive is damaged") from None
                raise BackupError(f"cannot decrypt {source}: the file is damaged at chunk {number}") from None
            if last:
                return
            number += 1


class ArchiveWriter:
    """Writes the members of a backup zip as streams."""

    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=6)

    def open(self, name: str) -> IO[bytes]:
        return self.zip.open(name, "w", force_zip64=True)

    def write_json(self, name: str, value: Any) -> None:
        self.zip.writestr(name, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.zip.close()


class ArchiveReader:
    """Reads a backup zip (decrypted first when sealed, into a temporary file)."""

    def __init__(self, path: Path, key: bytes | None = None):
        path = Path(path)
        if not path.is_file():
            raise BackupError(f"no backup file {path}")
        self._temp: Path | None = None
        if is_encrypted(path):
            if key is None:
                raise BackupError(f"{path} is encrypted: give --key-file or set TESSERA_BACKUP_KEY")
            fd, name = tempfile.mkstemp(prefix="tessera-restore-", suffix=".zip")
            os.close(fd)
            self._temp = Path(name)
            try:
                decrypt_file(path, self._temp, key)
            except BaseException:
                self.close()
                raise
            path = self._temp
        try:
            self.zip = zipfile.ZipFile(path)
            self.manifest: dict[str, Any] = json.loads(self.zip.read("manifest.json"))
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
            self.close()
            raise BackupError(f"{path} is not a Tessera backup ({exc})") from None
        self.names = set(self.zip.namelist())

    def lines(self, name: str) -> Iterator[bytes]:
        """The raw lines of a member (the checksums are over these bytes)."""
        if name not in self.names:
            raise BackupError(f"the backup lacks {name}: it is damaged")
        try:
            with self.zip.open(name) as fh:
                yield from fh
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise BackupError(f"cannot read {name} from the backup: {exc}") from None

    def read_into(self, name: str, write: Callable[[IO[bytes]], T]) -> T:
        """``write(stream)`` over a member; a damaged member (bad CRC, bad compressed data)
        is one BackupError, like :meth:`lines`."""
        if name not in self.names:
            raise BackupError(f"the backup lacks {name}: it is damaged")
        try:
            with self.zip.open(name) as stream:
                return write(stream)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise BackupError(f"cannot read {name} from the backup: {exc}") from None

    def close(self) -> None:
        if getattr(self, "zip", None) is not None:
            self.zip.close()
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
