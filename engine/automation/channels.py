"""Delivery channels: how an outbox row's effect reaches the outside world.

The dispatcher (:mod:`engine.automation.outbox`) claims a due row, calls the channel
registered under the row's ``channel`` *outside* any transaction, and records the
:class:`Delivery` it returns (sent, retried later with backoff, or failed for good).
Channels: ``email``, ``sms``, ``webhook`` (:mod:`engine.automation.delivery`), ``job``
(plugin jobs, :mod:`engine.automation.jobs`). Plugins register more with
:func:`register_channel`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    #: False: retrying cannot help (410 Gone, a bad address): fail the row at once
    retry: bool = True
    #: a success's remark, shown with the attempt ("written to the log: no e-mail server configured")
    note: str | None = None


def retryable(status: int) -> bool:
    """Whether a failure answered with HTTP ``status`` may pass on a later attempt: a
    timeout (408), too many requests (429) or the other side's trouble (5xx). The other
    4xx answers are the request's own fault; repeating it cannot help."""
    return status >= 500 or status in (408, 429)


#: (workspace, outbox row as a dict) -> Delivery; a channel must be idempotent per row id
Channel = Callable[[Any, dict[str, Any]], Delivery]

CHANNELS: dict[str, Channel] = {}


def register_channel(name: str, channel: Channel) -> None:
    CHANNELS[name] = channel
