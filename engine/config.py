"""Configuration: environment variables first, then an optional ``tessera.toml``.

The names are fixed by SPEC section 2. A ``Config`` is a plain value object: the app
factory takes one, so tests build as many differently configured engines as they like.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from engine.errors import TesseraError

DEFAULT_DATABASE_URL = "sqlite:///tessera.db"


@dataclass(frozen=True)
class Config:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: str | None = None
    packs: tuple[str, ...] | None = None  # None means all
    extra_pack_paths: tuple[Path, ...] = ()
    instance_path: Path = field(default_factory=lambda: Path.cwd() / ".tessera")
    max_body_bytes: int = 10 * 1024 * 1024
    #: where uploaded files are kept (``TESSERA_FILES_PATH``); unset: ``files/`` in the instance folder
    files_path: Path | None = None
    #: seconds a bearer token lives
    token_ttl: int = 12 * 3600
    #: sign-in attempts allowed per client address ("N per minute|hour")
    auth_rate_limit: str = "10 per minute"
    #: public form and hook submissions per client address, unless the form sets its own
    capture_rate_limit: str = "20 per minute"
    #: failed sign-ins per account before it is locked for the rest of the window
    login_lockout: str = "5 per 15 minutes"
    #: single sign-on (OpenID Connect); unset issuer: local passwords only
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_roles_claim: str = "roles"
    #: provider claim value -> Tessera role name
    oidc_role_map: tuple[tuple[str, str], ...] = ()
    oidc_default_roles: tuple[str, ...] = ()
    oidc_teams_claim: str | None = None
    #: argon2 cost: "strong" (default) or "fast" (test suites only: cheap hashes, same code path)
    password_hashing: str = "strong"
    #: outgoing e-mail (SMTP); unset host (``TESSERA_SMTP_URL`` unset or ``log:``): messages are
    #: written to the application log instead of being sent
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "tessera@localhost"
    #: upgrade the connection with STARTTLS (``smtp+starttls://``); ``smtp_ssl``: TLS from the start (``smtps://``)
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    #: SMS gateway: JSON ``{"to", "text"}`` is POSTed here with ``Authorization: Bearer sms_token``;
    #: unset (``TESSERA_SMS_URL`` unset or ``log:``): texts are written to the application log
    sms_url: str | None = None
    sms_token: str | None = None
    #: seconds an outgoing HTTP call (webhook, SMS gateway) may take
    http_timeout: float = 10.0
    #: consecutive failed deliveries after which a webhook subscription is switched off
    webhook_disable_after: int = 10
    #: the address users reach Tessera at (``https://crm.example.com``): links in e-mails
    #: (record links, invitations, password resets) start with it; unset: record links are
    #: paths (``/api/v1/public/respond/...``), invitations use the request's address
    public_url: str | None = None
    #: seconds computed dashboard figures are kept per viewer (0: computed at every view);
    #: a change to a counted entity drops them at once (``engine.dashboard_cache``)
    dashboard_cache_seconds: float = 60.0
    #: ``GET /metrics`` asks for ``Authorization: Bearer metrics_token``; unset: loopback callers only
    metrics_token: str | None = None
    #: ``text`` (default) or ``json``: one JSON object per log line (``engine.logging_setup``)
    log_format: str = "text"
    #: reverse proxies in front (nginx: 1) whose ``X-Forwarded-For``/``-Proto`` are trusted for
    #: the client's address and scheme; 0: the connection's own address
    trusted_proxies: int = 0

    def with_overrides(self, **changes: object) -> Config:
        return replace(self, **changes)  # type: ignore[arg-type]

    def resolved_files_path(self) -> Path:
        """The folder of uploaded files (``engine.files``)."""
        return self.files_path or self.instance_path / "files"

    def resolved_secret_key(self) -> str:
        """The configured key, else one generated once into the instance folder."""
        if self.secret_key:
            return self.secret_key
        path = self.instance_path / "secret_key"
        if not path.exists():
            self.instance_path.mkdir(parents=True, exist_ok=True)
            try:  # O_EXCL: of two processes starting at once, one writes and both read the same key
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
            except FileExistsError:
                pass
        return path.read_text().strip()


#: the value of ``TESSERA_SMTP_URL`` / ``TESSERA_SMS_URL`` that writes messages to the log
LOG_TRANSPORT = "log:"


def parse_smtp_url(url: str) -> dict[str, object]:
    """``smtp://user:password@host:port`` (plain), ``smtp+starttls://...`` or ``smtps://...``
    as Config fields; user and password may be percent-encoded. ``log:`` (the same as unset,
    but it wins over a ``tessera.toml`` value) writes e-mail to the application log."""
    if url.strip() == LOG_TRANSPORT:
        return {"smtp_host": None}
    parts = urlsplit(url)
    schemes = {"smtp": (False, False, 25), "smtp+starttls": (True, False, 587), "smtps": (False, True, 465)}
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in schemes or not parts.hostname or port == -1:
        # the URL itself stays out of the message: it may hold the password
        raise TesseraError(
            "TESSERA_SMTP_URL must look like smtp://user:password@host:port (or smtp+starttls://, smtps://),"
            " or be log: to write e-mail to the log"
        )
    starttls, ssl, default_port = schemes[parts.scheme]
    return {
        "smtp_host": parts.hostname,
        "smtp_port": port or default_port,
        "smtp_user": unquote(parts.username) if parts.username else None,
        "smtp_password": unquote(parts.password) if parts.password else None,
        "smtp_starttls": starttls,
        "smtp_ssl": ssl,
    }


def parse_sms_url(url: str | None) -> str | None:
    """The SMS gateway's ``http(s)://`` URL; None for unset or ``log:`` (texts go to the log)."""
    if not url or url.strip() == LOG_TRANSPORT:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TesseraError(
            "TESSERA_SMS_URL must be the gateway's http:// or https:// URL, or log: to write SMS to the log"
        )
    return url.strip()


def parse_public_url(url: str | None) -> str | None:
    """The public base address: ``http(s)://host[:port][/path]`` without a query, kept without
    a trailing slash; None when unset."""
    if not url or not url.strip():
        return None
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise TesseraError(
            "TESSERA_PUBLIC_URL must be the address users reach Tessera at,"
            f" such as https://crm.example.com, not {url!r}"
        )
    return url.strip().rstrip("/")


def _rate(value: str, name: str) -> str:
    """A rate such as "20 per minute", checked now rather than on the first request."""
    from limits import parse

    try:
        parse(value)
    except ValueError:
        raise TesseraError(f"{name} must be a rate like '20 per minute', not {value!r}") from None
    return value


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").replace(os.pathsep, ",").split(",") if part.strip()]


def load_config(env: dict[str, str] | None = None, toml_path: Path | None = None) -> Config:
    """Build the configuration from ``env`` (default ``os.environ``) and ``tessera.toml``."""
    env = dict(os.environ if env is None else env)
    toml_path = toml_path or Path.cwd() / "tessera.toml"
    file_values: dict[str, object] = {}
    if toml_path.exists():
        with toml_path.open("rb") as fh:
            file_values = tomllib.load(fh).get("tessera", {})

    def pick(env_name: str, key: str) -> str | None:
        if env.get(env_name):
            return env[env_name]
        value = file_values.get(key)
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return None if value is None else str(value)

    packs = pick("TESSERA_PACKS", "packs")
    pack_list = _split(packs)
    config = Config(
        database_url=pick("TESSERA_DATABASE_URL", "database_url") or DEFAULT_DATABASE_URL,
        redis_url=pick("TESSERA_REDIS_URL", "redis_url"),
        secret_key=pick("TESSERA_SECRET_KEY", "secret_key"),
        packs=None if not pack_list or pack_list == ["all"] else tuple(pack_list),
        extra_pack_paths=tuple(Path(p) for p in _split(pick("TESSERA_EXTRA_PACK_PATHS", "extra_pack_paths"))),
    )
    role_map = [part.split(":", 1) for part in _split(pick("TESSERA_OIDC_ROLE_MAP", "oidc_role_map"))]
    config = config.with_overrides(
        oidc_issuer=pick("TESSERA_OIDC_ISSUER", "oidc_issuer"),
        oidc_client_id=pick("TESSERA_OIDC_CLIENT_ID", "oidc_client_id"),
        oidc_client_secret=pick("TESSERA_OIDC_CLIENT_SECRET", "oidc_client_secret"),
        oidc_roles_claim=pick("TESSERA_OIDC_ROLES_CLAIM", "oidc_roles_claim") or "roles",
        oidc_role_map=tuple((k.strip(), v.strip()) for k, v in (p for p in role_map if len(p) == 2)),
        oidc_default_roles=tuple(_split(pick("TESSERA_OIDC_DEFAULT_ROLES", "oidc_default_roles"))),
        oidc_teams_claim=pick("TESSERA_OIDC_TEAMS_CLAIM", "oidc_teams_claim"),
    )
    smtp_url = pick("TESSERA_SMTP_URL", "smtp_url")
    if smtp_url:
        config = config.with_overrides(**parse_smtp_url(smtp_url))
    config = config.with_overrides(
        smtp_from=pick("TESSERA_SMTP_FROM", "smtp_from") or config.smtp_from,
        sms_url=parse_sms_url(pick("TESSERA_SMS_URL", "sms_url")),
        sms_token=pick("TESSERA_SMS_TOKEN", "sms_token"),
        public_url=parse_public_url(pick("TESSERA_PUBLIC_URL", "public_url")),
    )
    for variable, key in (
        ("TESSERA_CAPTURE_RATE_LIMIT", "capture_rate_limit"),
        ("TESSERA_AUTH_RATE_LIMIT", "auth_rate_limit"),
        ("TESSERA_LOGIN_LOCKOUT", "login_lockout"),
    ):
        limit = pick(variable, key)
        if limit:
            config = config.with_overrides(**{key: _rate(limit, variable)})
    log_format = (pick("TESSERA_LOG_FORMAT", "log_format") or "text").strip().lower()
    if log_format not in ("text", "json"):
        raise TesseraError(f"TESSERA_LOG_FORMAT must be text or json, not {log_format!r}")
    config = config.with_overrides(metrics_token=pick("TESSERA_METRICS_TOKEN", "metrics_token"), log_format=log_format)
    proxies = (pick("TESSERA_TRUSTED_PROXIES", "trusted_proxies") or "0").strip()
    if not proxies.isdigit() or int(proxies) > 10:
        raise TesseraError(f"TESSERA_TRUSTED_PROXIES must be the number of reverse proxies (0-10), not {proxies!r}")
    config = config.with_overrides(trusted_proxies=int(proxies))
    cache = (pick("TESSERA_DASHBOARD_CACHE_SECONDS", "dashboard_cache_seconds") or "60").strip()
    if not cache.isdigit() or int(cache) > 86400:
        raise TesseraError(f"TESSERA_DASHBOARD_CACHE_SECONDS must be seconds from 0 to 86400, not {cache!r}")
    config = config.with_overrides(dashboard_cache_seconds=float(cache))
    instance = pick("TESSERA_INSTANCE_PATH", "instance_path")
    if instance:
        config = config.with_overrides(instance_path=Path(instance))
    files = pick("TESSERA_FILES_PATH", "files_path")
    if files:
        config = config.with_overrides(files_path=Path(files))
    return config
