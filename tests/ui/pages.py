"""What the page tests share: reading a page's HTML and its form token."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def html(reply: Any, status: int = 200) -> str:
    """The page's HTML, after checking its status (the page is shown when it differs)."""
    text = reply.get_data(as_text=True)
    assert reply.status_code == status, text[:3000]
    return text


def csrf_of(page: str) -> str:
    found = _TOKEN.search(page)
    assert found is not None, "the page has no form token"
    return found.group(1)
