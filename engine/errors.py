"""One exception hierarchy for every user-facing failure.

Each class maps once to an HTTP status (``engine.api.problems``) and to a one-line CLI
message (``engine.cli``). Code raises the most specific class; nothing else is caught
and turned into a user message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    """One problem with one field (or with a document path, for metadata)."""

    field: str
    message: str
    index: int | None = None  # position in a bulk request

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.index is not None:
            out["index"] = self.index
        return out


@dataclass
class TesseraError(Exception):
    """Base of every error a user can act on."""

    detail: str
    errors: list[FieldError] = field(default_factory=list)

    status = 400
    title = "Bad request"

    def __str__(self) -> str:
        if not self.errors:
            return self.detail
        first = self.errors[0]
        more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        return f"{self.detail}: {first.field}: {first.message}{more}"


class BadRequest(TesseraError):
    status = 400
    title = "Bad request"


class ValidationError(TesseraError):
    status = 422
    title = "Validation failed"


class AuthenticationRequired(TesseraError):
    status = 401
    title = "Authentication required"


class PermissionDenied(TesseraError):
    status = 403
    title = "Forbidden"


class NotFound(TesseraError):
    status = 404
    title = "Not found"


class Conflict(TesseraError):
    status = 409
    title = "Conflict"


class PreconditionFailed(TesseraError):
    status = 412
    title = "Precondition failed"


class RateLimited(TesseraError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int = 60):
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(TesseraError):
    """The server cannot do this now, through no fault of the request (a sender tries later)."""

    status = 503
    title = "Service unavailable"


class PayloadTooLarge(TesseraError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(TesseraError):
    """An upload whose type the field does not accept (a file field's ``accept``)."""

    status = 415
    title = "Unsupported media type"


class DslError(BadRequest):
    title = "Invalid expression"


class MetadataError(TesseraError):
    """Invalid pack or overlay metadata; ``errors`` carry ``file:line:col`` locations."""

    status = 422
    title = "Invalid metadata"


class DestructiveChange(TesseraError):
    """A schema change that would drop, rename or narrow data without explicit consent."""

    status = 409
    title = "Destructive schema change refused"
