"""The trio_coord exception hierarchy.

Everything trio_coord raises on purpose derives from :class:`TrioCoordError`.
The split follows h11: a :class:`LocalProtocolError` means *we* were about to
break the protocol (an invalid request, an oversized frame) and nothing was
sent; a :class:`RemoteProtocolError` means the supervisor sent bytes we cannot
accept. trio's resource errors (``BrokenResourceError``,
``ClosedResourceError``) never escape the public API: the comm layer translates
them into :class:`DispatcherClosed`.

:class:`ApiError` and its subclasses carry an error the *supervisor* reported
(``ErrorResponse``); one subclass exists per ``ErrorType`` value so callers
catch ``VariableNotFound`` rather than matching on strings.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ApiError",
    "ApiServerError",
    "AssetNotFound",
    "AssetStoreNotFound",
    "ConnectionNotFound",
    "DagRunAlreadyExists",
    "DispatcherClosed",
    "GenericApiError",
    "LocalProtocolError",
    "PermissionDenied",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestTimeout",
    "TaskStoreNotFound",
    "TrioCoordError",
    "VariableNotFound",
    "XComNotFound",
]


class TrioCoordError(Exception):
    """Base class of every error trio_coord raises deliberately."""


class ProtocolError(TrioCoordError):
    """The coordinator protocol was violated.

    Not raised directly: see :class:`LocalProtocolError` and
    :class:`RemoteProtocolError`.
    """

    def __init__(self, message: str) -> None:
        if type(self) is ProtocolError:
            raise TypeError("raise LocalProtocolError or RemoteProtocolError, not ProtocolError")
        super().__init__(message)


class LocalProtocolError(ProtocolError, ValueError):
    """We were about to send something the supervisor cannot accept.

    Raised *before* any byte is written: an invalid request body, a value that
    cannot be encoded, a frame larger than :data:`MAX_FRAME_SIZE`. It is also
    a :class:`ValueError`, because in every case the caller passed a bad value.
    """


class RemoteProtocolError(ProtocolError):
    """The supervisor sent bytes that are not a valid frame or message."""


class DispatcherClosed(TrioCoordError):
    """The comm channel's reader has stopped; no further replies will arrive.

    Raised by every pending and later request once the supervisor's socket
    closed or sent an invalid frame. ``__cause__`` and :attr:`cause` hold what
    ended the reader (``None`` for a clean end of stream).
    """

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class RequestTimeout(TrioCoordError, TimeoutError):
    """A request got no reply within its time limit.

    The 1.3.2 supervisor silently drops requests it cannot validate, so every
    request trio_coord sends is bounded. :attr:`request` names the request
    (its ``type`` and identifying fields).
    """

    def __init__(self, request: str, seconds: float) -> None:
        super().__init__(f"{request}: no reply from the supervisor within {seconds:g} s")
        self.request = request
        self.seconds = seconds


class ApiError(TrioCoordError):
    """The supervisor answered a request with an ``ErrorResponse``.

    Attributes:
        error: the ``ErrorType`` code, e.g. ``"VARIABLE_NOT_FOUND"``.
        detail: the ``detail`` map the supervisor sent (may be ``None``).

    :meth:`ApiError.from_error` builds the most specific subclass for an
    ``error`` code; an unknown code gives a plain :class:`ApiError`.
    """

    #: the ``ErrorType`` this class stands for (``None`` for the base class)
    code: str | None = None
    _by_code: dict[str, type[ApiError]] = {}  # noqa: RUF012 - class registry

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code is not None:
            ApiError._by_code[cls.code] = cls

    @staticmethod
    def from_error(error: str, detail: Mapping[str, object] | None = None) -> ApiError:
        """Build the most specific :class:`ApiError` subclass for ``error``."""
        return ApiError._by_code.get(error, ApiError)(error, detail)

    def __init__(self, error: str, detail: Mapping[str, object] | None = None) -> None:
        self.error = error
        self.detail: dict[str, object] | None = dict(detail) if detail is not None else None
        super().__init__(error, self.detail)

    def __str__(self) -> str:
        if self.detail:
            return f"[{self.error}] {self.detail}"
        return self.error

    def __reduce__(self) -> tuple[type[ApiError], tuple[str, dict[str, object] | None]]:
        return (type(self), (self.error, self.detail))


def _not_found(error: ApiError, what: str, fields: tuple[str, ...]) -> str:
    """A sentence for a ``*_NOT_FOUND`` error: ``the variable 'city' does not exist (VARIABLE_NOT_FOUND)``."""
    detail = error.detail or {}
    names = [f"{detail[field]!r}" for field in fields if detail.get(field) is not None]
    if not names:
        return ApiError.__str__(error)
    extra = {k: v for k, v in detail.items() if k not in fields}
    context = f" ({', '.join(f'{k}={v!r}' for k, v in extra.items())})" if extra else ""
    return f"{what} {' '.join(names)} does not exist{context} [{error.error}]"


class VariableNotFound(ApiError, KeyError):
    """The variable does not exist (``VARIABLE_NOT_FOUND``)."""

    code = "VARIABLE_NOT_FOUND"

    def __str__(self) -> str:
        return _not_found(self, "the variable", ("key",))


class ConnectionNotFound(ApiError, KeyError):
    """The connection does not exist (``CONNECTION_NOT_FOUND``)."""

    code = "CONNECTION_NOT_FOUND"

    def __str__(self) -> str:
        return _not_found(self, "the connection", ("conn_id",))


class XComNotFound(ApiError, KeyError):
    """The XCom (or sequence item) does not exist (``XCOM_NOT_FOUND``)."""

    code = "XCOM_NOT_FOUND"

    def __str__(self) -> str:
        return _not_found(self, "the XCom", ("key",))


class AssetNotFound(ApiError, KeyError):
    """The asset does not exist (``ASSET_NOT_FOUND``)."""

    code = "ASSET_NOT_FOUND"

    def __str__(self) -> str:
        return _not_found(self, "the asset", ("name", "uri"))


class TaskStoreNotFound(ApiError, KeyError):
    """The task state-store key does not exist (``TASK_STORE_NOT_FOUND``)."""

    code = "TASK_STORE_NOT_FOUND"

    def __str__(self) -> str:
        return _not_found(self, "the task state-store key", ("key",))


class AssetStoreNotFound(ApiError, KeyError):
    """The asset state-store key does not exist (``ASSET_STORE_NOT_FOUND``)."""

    code = "ASSET_STORE_NOT_FOUND"

    def __str__(self) -> str:
        return _not_found(self, "the asset state-store key", ("key",))


class DagRunAlreadyExists(ApiError):
    """``TriggerDagRun`` found an existing run (``DAGRUN_ALREADY_EXISTS``)."""

    code = "DAGRUN_ALREADY_EXISTS"


class PermissionDenied(ApiError):
    """The Execution API refused the call (``PERMISSION_DENIED``)."""

    code = "PERMISSION_DENIED"


class ApiServerError(ApiError):
    """The Execution API call failed (``API_SERVER_ERROR``).

    ``detail`` carries ``status_code`` (``None`` for a network error) and
    ``message``.
    """

    code = "API_SERVER_ERROR"


class GenericApiError(ApiError):
    """An unspecified supervisor error (``GENERIC_ERROR``)."""

    code = "GENERIC_ERROR"
