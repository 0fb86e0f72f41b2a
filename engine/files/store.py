"""Where the bytes of uploaded files live: a blob store keyed by the content's sha256.

The engine needs three things of a store (``BlobStore``): keep a stream (``put``), give it
back (``open``) and say whether it has it (``exists``). ``LocalBlobStore`` keeps blobs in a
folder (``TESSERA_FILES_PATH``, default ``files/`` in the instance folder); an
S3-compatible store is a plugin that implements the same three methods and is installed
with :func:`use_blob_store`.

Blobs are content-addressed: the same content uploaded twice is stored once, and a blob is
never changed or removed by a later upload, so earlier versions of a file stay readable.
A blob is written to a temporary file in the same folder, flushed to disk and renamed into
place: a reader never sees half a file, and a crash leaves at most a stray temporary file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from engine.errors import PayloadTooLarge

CHUNK = 64 * 1024


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int


class BlobStore(Protocol):
    """The storage of file contents; implementations must write atomically."""

    def put(self, stream: IO[bytes], max_size: int | None = None) -> StoredBlob:
        """Keep the stream's bytes; ``PayloadTooLarge`` (nothing kept) past ``max_size``."""
        ...

    def open(self, sha256: str) -> IO[bytes]:
        """The content of a blob, for reading; ``FileNotFoundError`` when it is missing."""
        ...

    def exists(self, sha256: str) -> bool: ...


class LocalBlobStore:
    """Blobs as files ``ab/cd/abcd...`` under one folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise FileNotFoundError(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: IO[bytes], max_size: int | None = None) -> StoredBlob:
        self.root.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, temp_name = tempfile.mkstemp(prefix=".upload-", dir=self.root)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise PayloadTooLarge(f"The file is larger than the limit of {max_size} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            target = self._path(sha256)
            if target.exists():  # the same content is kept once
                temp.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temp, target)
            return StoredBlob(sha256, size)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def open(self, sha256: str) -> IO[bytes]:
        return self._path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        try:
            return self._path(sha256).is_file()
        except FileNotFoundError:
            return False


def blob_store(workspace: Any) -> BlobStore:
    """The workspace's blob store: the one installed by :func:`use_blob_store`, else a
    ``LocalBlobStore`` over the configured folder."""
    store: BlobStore | None = getattr(workspace, "blob_store", None)
    if store is None:
        store = LocalBlobStore(workspace.config.resolved_files_path())
        use_blob_store(workspace, store)
    return store


def use_blob_store(workspace: Any, store: BlobStore) -> None:
    """Install another store (an S3-compatible plugin) for a workspace."""
    workspace.blob_store = store
