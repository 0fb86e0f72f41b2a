"""OAuth2 sign-in for IMAP (``XOAUTH2``): Gmail and Microsoft 365 mailboxes.

A mailbox with ``auth: xoauth2`` keeps a refresh token (obtained once through the
provider's consent screen, see docs/email.md) and the app's client id and secret. Each
poll exchanges the refresh token for an access token at the provider's token endpoint and
signs in with the SASL ``XOAUTH2`` string; a rotated refresh token is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from engine.errors import ValidationError

TOKEN_URLS = {
    "google": "https://oauth2.googleapis.com/token",
    "microsoft": "https://login.microsoftonline.com/common/oauth2/v2.0/token",
}
SCOPES = {
    "google": "https://mail.google.com/",
    "microsoft": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
}


class OAuthError(Exception):
    """The token endpoint refused the refresh (a revoked or expired grant)."""


@dataclass(frozen=True)
class AccessToken:
    access_token: str
    refresh_token: str | None = None


def token_url(mailbox: dict[str, Any]) -> str:
    """The mailbox's token endpoint: its own URL, else its provider's."""
    url = mailbox.get("oauth_token_url") or TOKEN_URLS.get(str(mailbox.get("oauth_provider")))
    if not url:
        raise ValidationError(
            f"Mailbox {mailbox.get('name')!r} signs in with OAuth2 but names no provider or token URL"
        )
    return str(url)


def refresh(mailbox: dict[str, Any], timeout: float = 10.0) -> AccessToken:
    """An access token for the mailbox (its secrets opened), from its refresh token."""
    if not mailbox.get("oauth_refresh_token") or not mailbox.get("oauth_client_id"):
        raise ValidationError(f"Mailbox {mailbox.get('name')!r} needs an OAuth2 client id and refresh token")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": mailbox["oauth_refresh_token"],
        "client_id": mailbox["oauth_client_id"],
    }
    if mailbox.get("oauth_client_secret"):
        form["client_secret"] = mailbox["oauth_client_secret"]
    scope = SCOPES.get(str(mailbox.get("oauth_provider")))
    if scope:
        form["scope"] = scope
    try:
        response = requests.post(token_url(mailbox), data=form, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise OAuthError(f"could not reach the token endpoint: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
        reason = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
        raise OAuthError(f"the token endpoint answered {response.status_code}" + (f": {reason}" if reason else ""))
    return AccessToken(str(body["access_token"]), body.get("refresh_token"))


def xoauth2_string(username: str, access_token: str) -> bytes:
    """The SASL XOAUTH2 initial response (imaplib base64-encodes it)."""
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01".encode()
