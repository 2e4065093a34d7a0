"""Airflow connection URIs and JSON, as ``AIRFLOW_CONN_*`` and ``--conn`` use them.

The parsing follows ``airflow.sdk.definitions.connection.Connection.from_uri``
and ``from_json`` (task-sdk 1.3.2), so a URI means the same thing here as in
Airflow: ``postgresql://user:pa%40ss@host:5432/db?sslmode=require`` gives
``conn_type="postgres"``, an unquoted password, and ``extra`` holding the query
as a JSON object (or the ``__extra__`` parameter's JSON verbatim).
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit

from ._messages import Connection

__all__ = ["connection_from_env", "connection_from_json", "connection_from_uri", "parse_connection"]

_EXTRA_KEY = "__extra__"


def _normalize_conn_type(conn_type: str) -> str:
    if conn_type == "postgresql":
        return "postgres"
    return conn_type.replace("-", "_")


def connection_from_uri(conn_id: str, uri: str) -> Connection:
    """Parse an Airflow connection URI.

    Raises:
        ValueError: the URI is not a valid connection URI (the id is named).
    """
    if uri.count("://") > 2 or "://" not in uri:
        raise ValueError(f"connection {conn_id!r}: {uri!r} is not a connection URI (scheme://...)")
    host_with_protocol = uri.count("://") == 2
    try:
        parts = urlsplit(uri)
        conn_type = parts.scheme
        rest = uri.replace(f"{conn_type}://", "" if host_with_protocol else "//", 1)
        if host_with_protocol:
            head = rest.split("://", 1)[0]
            if "@" in head or ":" in head:
                raise ValueError("a host protocol cannot contain '@' or ':'")
        parts = urlsplit(rest)
        protocol = parts.scheme if host_with_protocol else None
        host = unquote(parts.hostname or "")
        if "/" in host:
            host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
            host = unquote(host)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"connection {conn_id!r}: invalid connection URI: {exc}") from None
    if not conn_type:
        raise ValueError(f"connection {conn_id!r}: the URI has no scheme (connection type)")
    extra: str | None = None
    if parts.query:
        import json

        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra = query[_EXTRA_KEY] if _EXTRA_KEY in query else json.dumps(query)
    schema = unquote(parts.path[1:]) if parts.path[1:] else None
    return Connection(
        conn_id=conn_id,
        conn_type=_normalize_conn_type(conn_type),
        host=(f"{protocol}://{host}" if protocol and host else host) or None,
        schema=schema,
        login=unquote(parts.username) if parts.username else parts.username,
        password=unquote(parts.password) if parts.password else parts.password,
        port=port,
        extra=extra,
    )


def connection_from_json(conn_id: str, text: str) -> Connection:
    """Parse a connection given as a JSON object (``conn_type``, ``host``, ``extra``, ...).

    Raises:
        ValueError: not a JSON object, or a field has the wrong type.
    """
    import json  # where it is used: a run that needs no JSON never imports the package

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"connection {conn_id!r}: invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"connection {conn_id!r}: JSON must be an object")
    extra = data.get("extra")
    if extra is not None and not isinstance(extra, str):
        extra = json.dumps(extra)
    port = data.get("port")
    if port is not None and port != "":
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise ValueError(f"connection {conn_id!r}: port must be an integer, got {port!r}") from None
    else:
        port = None
    conn_type = data.get("conn_type")
    if not isinstance(conn_type, str) or not conn_type:
        raise ValueError(f"connection {conn_id!r}: 'conn_type' is required")
    fields: dict[str, str | None] = {}
    for name in ("host", "schema", "login", "password"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"connection {conn_id!r}: {name} must be a string")
        fields[name] = value
    return Connection(
        conn_id=conn_id,
        conn_type=_normalize_conn_type(conn_type),
        host=fields["host"],
        schema=fields["schema"],
        login=fields["login"],
        password=fields["password"],
        port=port,
        extra=extra or None,
    )


def parse_connection(conn_id: str, text: str) -> Connection:
    """Parse a connection given as JSON (starting with ``{``) or as a URI."""
    if text.lstrip().startswith("{"):
        return connection_from_json(conn_id, text)
    return connection_from_uri(conn_id, text)


def connection_from_env(conn_id: str) -> Connection | None:
    """Return the connection defined by ``AIRFLOW_CONN_<CONN_ID>``, if any."""
    text = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not text:
        return None
    return parse_connection(conn_id, text)
