"""Secret masking for every log line trio_coord emits.

Secrets are registered from three places: connection passwords and extras
(``get_connection``), variables whose key looks sensitive (``get_variable``,
by Airflow's rule), and explicit ``mask_secret`` calls. The log handler runs
every string it writes (message, extra fields, exception text and
tracebacks) through :func:`redact`.

The rules follow Airflow's secrets masker (task-sdk 1.3.2): a key is
sensitive when its normalised name contains one of
:data:`SENSITIVE_FIELD_NAMES`; strings shorter than
:data:`MIN_SECRET_LENGTH` characters are not masked (they would mask common
words), nor is the word ``airflow``. Masking is process-wide and thread-safe.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = [
    "MIN_SECRET_LENGTH",
    "REPLACEMENT",
    "SENSITIVE_FIELD_NAMES",
    "is_sensitive_key",
    "redact",
    "register_secret",
    "reset_secrets",
]

#: Field names Airflow deems sensitive (a key containing one is masked).
SENSITIVE_FIELD_NAMES: Final = frozenset(
    {
        "access_key",
        "access_token",
        "api_key",
        "apikey",
        "auth_header",
        "authorization",
        "bearer",
        "connection_string",
        "dsn",
        "passphrase",
        "passwd",
        "password",
        "private_key",
        "proxy",
        "proxy_password",
        "proxies",
        "secret",
        "service_account",
        "service_key",
        "token",
        "keyfile_dict",
        "webhook_url",
    }
)
#: Secrets shorter than this are not masked (Airflow's default).
MIN_SECRET_LENGTH: Final = 5
#: What a masked secret is replaced with.
REPLACEMENT: Final = "***"
_SKIPPED: Final = frozenset({"airflow"})

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


@functools.lru_cache(maxsize=1024)
def is_sensitive_key(name: str) -> bool:
    """Whether a variable key or extra field name looks sensitive, as Airflow decides."""
    normalized = re.sub(r"\W+", "_", name.strip().lower())
    return any(field in normalized for field in SENSITIVE_FIELD_NAMES)


def _forms(secret: str) -> Iterable[str]:
    yield secret
    import json  # here: a run that registers no secret never imports it

    yield json.dumps(secret)[1:-1]  # as it appears inside a JSON string
    yield repr(secret)[1:-1]  # as it appears inside a repr() of a container


def register_secret(value: object, name: str | None = None) -> None:
    """Mask ``value`` (a string, or the strings inside a list or map) from now on.

    With ``name``, a string is masked only if ``name`` looks sensitive; the
    values of a map are registered under their keys, as Airflow does.
    """
    global _pattern
    added: set[str] = set()
    _collect(value, name, added, 0)
    if not added:
        return
    with _lock:
        if added <= _secrets:
            return
        _secrets.update(added)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(map(re.escape, ordered)))


def _collect(value: object, name: str | None, out: set[str], depth: int) -> None:
    if depth > 20:
        return
    if isinstance(value, str):
        if len(value) < MIN_SECRET_LENGTH or value.lower() in _SKIPPED:
            return
        if name is not None and not is_sensitive_key(name):
            return
        out.update(form for form in _forms(value) if len(form) >= MIN_SECRET_LENGTH)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _collect(item, str(key), out, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _collect(item, name, out, depth + 1)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***``."""
    pattern = _pattern
    if pattern is None:
        return text
    return pattern.sub(REPLACEMENT, text)


def has_secrets() -> bool:
    """Whether any secret is registered."""
    return _pattern is not None


def reset_secrets() -> None:
    """Forget every registered secret (for tests and the embedded supervisor)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None
