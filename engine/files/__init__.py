"""Files in records: the blob store (``store``) and uploads into file fields (``attach``).

See docs/api.md ("Files") for the HTTP side and ``engine.storage.files`` for how a file
field refers to an uploaded file.
"""

from engine.files.attach import Download, Upload, attach_file, list_files, open_file
from engine.files.store import BlobStore, LocalBlobStore, StoredBlob, blob_store, use_blob_store

__all__ = [
    "BlobStore",
    "Download",
    "LocalBlobStore",
    "StoredBlob",
    "Upload",
    "attach_file",
    "blob_store",
    "list_files",
    "open_file",
    "use_blob_store",
]
