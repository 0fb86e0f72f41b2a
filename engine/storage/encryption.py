"""Encryption at rest for ``secret`` fields.

Values are sealed with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a
key derived from ``TESSERA_SECRET_KEY`` with HKDF, so the database alone never holds a
usable secret. Rotation: ``TESSERA_SECRET_KEY_PREVIOUS`` (comma list) keeps old keys
readable while new writes use the current one (see docs/configuration.md).
"""

from __future__ import annotations

import base64
import logging
import os
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef

PREFIX = "fernet:"
log = logging.getLogger("tessera.security")


class Unopenable(ValueError):
    """A stored secret no configured key opens: sealed under another TESSERA_SECRET_KEY
    (a backup restored into this installation), or not sealed at all."""


def _derive(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tessera", info=b"field-encryption").derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class FieldCipher:
    def __init__(self, secret_key: str, previous: list[str] | None = None):
        if previous is None:
            previous = [k for k in os.environ.get("TESSERA_SECRET_KEY_PREVIOUS", "").split(",") if k]
        self._fernet = MultiFernet([_derive(secret_key), *(_derive(k) for k in previous)])
        #: the fields whose unopenable values were logged (once each: a list can hold thousands)
        self._reported: set[tuple[str, str]] = set()

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, stored: str) -> str:
        """The plain text of a sealed value; raises :class:`Unopenable` (a ValueError)."""
        if not stored.startswith(PREFIX):
            raise Unopenable("not an encrypted value")
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise Unopenable("the value was encrypted with another key") from None

    def report_unopenable(self, entity: str, field: str, record_id: Any, problem: Exception) -> None:
        """Say why a secret field reads as null: a value does not open. Reading goes on (one
        such value must not make a whole list fail), and an admin learns what to set: once
        per field while this key set lives, naming the first record found."""
        if (entity, field) in self._reported:
            return
        self._reported.add((entity, field))
        log.warning(
            "the secret %s.%s of record %s cannot be opened (%s): it reads as empty; set the TESSERA_SECRET_KEY"
            " it was sealed under in TESSERA_SECRET_KEY_PREVIOUS (other records of this field with the same"
            " problem are not logged again until a restart)",
            entity,
            field,
            record_id,
            problem,
        )

    def seal_values(self, entity: EntityDef, values: dict[str, Any], catalog: Catalog) -> None:
        """Encrypt, in place, every secret field of ``values`` (child rows included)."""
        if "secret" not in entity.field_types and "table" not in entity.field_types:
            return
        for name, value in values.items():
            fd = entity.fields.get(name)
            if fd is None:
                continue
            if fd.type == "secret" and isinstance(value, str):
                values[name] = self.seal(value)
            elif fd.type == "table" and isinstance(value, list):
                child = catalog.entities[fd.opt("of")]
                for row in value:
                    self.seal_values(child, row, catalog)
