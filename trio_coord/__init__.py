"""trio_coord: run trio ``async def`` tasks under Apache Airflow's coordinator protocol.

Write tasks against :class:`Bundle` / :class:`TaskContext`; Airflow's
supervisor launches ``python -m trio_coord serve BUNDLE --comm=… --logs=…``
(or a packed bundle executable) and :func:`serve` runs them.

The public names are loaded on first use (PEP 562), so that importing
``trio_coord`` or one of its submodules (the pytest plugin, for instance)
costs next to nothing until a name is used. Type checkers and documentation
tools see ordinary imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__ as __version__

if TYPE_CHECKING:
    from ._bundle import (
        Asset as Asset,
        AssetAlias as AssetAlias,
        AwaitInput as AwaitInput,
        Bundle as Bundle,
        Dag as Dag,
        Defer as Defer,
        FailTask as FailTask,
        Outlet as Outlet,
        OutletEvents as OutletEvents,
        Reschedule as Reschedule,
        SkipTask as SkipTask,
        Task as Task,
        TaskContext as TaskContext,
        TaskFunction as TaskFunction,
    )
    from ._client import (
        DEFAULT_REQUEST_TIMEOUT as DEFAULT_REQUEST_TIMEOUT,
        CoordinatorClient as CoordinatorClient,
    )
    from ._comm import (
        CommStatistics as CommStatistics,
        CoordinatorComm as CoordinatorComm,
        IncomingFrame as IncomingFrame,
        PendingReply as PendingReply,
        open_coordinator_comm as open_coordinator_comm,
    )
    from ._connection_uri import parse_connection as parse_connection
    from ._errors import (
        ApiError as ApiError,
        ApiServerError as ApiServerError,
        AssetNotFound as AssetNotFound,
        AssetStoreNotFound as AssetStoreNotFound,
        ConnectionNotFound as ConnectionNotFound,
        DagRunAlreadyExists as DagRunAlreadyExists,
        DispatcherClosed as DispatcherClosed,
        GenericApiError as GenericApiError,
        LocalProtocolError as LocalProtocolError,
        PermissionDenied as PermissionDenied,
        ProtocolError as ProtocolError,
        RemoteProtocolError as RemoteProtocolError,
        RequestTimeout as RequestTimeout,
        TaskStoreNotFound as TaskStoreNotFound,
        TrioCoordError as TrioCoordError,
        VariableNotFound as VariableNotFound,
        XComNotFound as XComNotFound,
    )
    from ._framing import MAX_FRAME_SIZE as MAX_FRAME_SIZE, FrameDecoder as FrameDecoder
    from ._loader import BundleLoadError as BundleLoadError, load_bundle as load_bundle
    from ._logging import (
        SocketLogHandler as SocketLogHandler,
        install_log_handler as install_log_handler,
    )
    from ._messages import (
        SUPERVISOR_SCHEMA_VERSION as SUPERVISOR_SCHEMA_VERSION,
        AssetProfile as AssetProfile,
        AwaitInputTask as AwaitInputTask,
        BundleInfo as BundleInfo,
        Connection as Connection,
        ConnectionResult as ConnectionResult,
        DagRun as DagRun,
        DeferTask as DeferTask,
        ErrorResponse as ErrorResponse,
        RescheduleTask as RescheduleTask,
        RetryTask as RetryTask,
        StartupDetails as StartupDetails,
        SucceedTask as SucceedTask,
        TaskInstance as TaskInstance,
        TaskState as TaskState,
        TIRunContext as TIRunContext,
        VariableResult as VariableResult,
        XComResult as XComResult,
    )
    from ._metadata import build_manifest as build_manifest, dump_manifest as dump_manifest
    from ._runner import run_task as run_task
    from ._serde import serde_decode as serde_decode, serde_encode as serde_encode
    from ._serve import ServeOptions as ServeOptions, serve as serve
    from ._version import __version__ as __version__
    from ._vocabulary import (
        AssetEvent as AssetEvent,
        AssetResult as AssetResult,
        DagResult as DagResult,
        DagRunAssetReference as DagRunAssetReference,
        HITLDetailRequestResult as HITLDetailRequestResult,
        HITLUser as HITLUser,
        PreviousTaskInstance as PreviousTaskInstance,
        PrevSuccessfulDagRunResult as PrevSuccessfulDagRunResult,
        VariableKeysResult as VariableKeysResult,
    )
    from ._wire import JsonValue as JsonValue

#: Where each public name lives (tests/test_exports.py checks it against __all__).
_LAZY: dict[str, str] = {
    "Asset": "._bundle",
    "AssetAlias": "._bundle",
    "AwaitInput": "._bundle",
    "AwaitInputTask": "._messages",
    "DeferTask": "._messages",
    "Defer": "._bundle",
    "serde_decode": "._serde",
    "serde_encode": "._serde",
    "Bundle": "._bundle",
    "Dag": "._bundle",
    "FailTask": "._bundle",
    "Outlet": "._bundle",
    "OutletEvents": "._bundle",
    "Reschedule": "._bundle",
    "SkipTask": "._bundle",
    "Task": "._bundle",
    "TaskContext": "._bundle",
    "TaskFunction": "._bundle",
    "DEFAULT_REQUEST_TIMEOUT": "._client",
    "CoordinatorClient": "._client",
    "CommStatistics": "._comm",
    "CoordinatorComm": "._comm",
    "IncomingFrame": "._comm",
    "PendingReply": "._comm",
    "open_coordinator_comm": "._comm",
    "parse_connection": "._connection_uri",
    "ApiError": "._errors",
    "ApiServerError": "._errors",
    "AssetNotFound": "._errors",
    "AssetStoreNotFound": "._errors",
    "ConnectionNotFound": "._errors",
    "DagRunAlreadyExists": "._errors",
    "DispatcherClosed": "._errors",
    "GenericApiError": "._errors",
    "LocalProtocolError": "._errors",
    "PermissionDenied": "._errors",
    "ProtocolError": "._errors",
    "RemoteProtocolError": "._errors",
    "RequestTimeout": "._errors",
    "TaskStoreNotFound": "._errors",
    "TrioCoordError": "._errors",
    "VariableNotFound": "._errors",
    "XComNotFound": "._errors",
    "MAX_FRAME_SIZE": "._framing",
    "FrameDecoder": "._framing",
    "BundleLoadError": "._loader",
    "load_bundle": "._loader",
    "SocketLogHandler": "._logging",
    "install_log_handler": "._logging",
    "SUPERVISOR_SCHEMA_VERSION": "._messages",
    "AssetEvent": "._vocabulary",
    "AssetProfile": "._messages",
    "AssetResult": "._vocabulary",
    "BundleInfo": "._messages",
    "Connection": "._messages",
    "ConnectionResult": "._messages",
    "DagResult": "._vocabulary",
    "DagRun": "._messages",
    "DagRunAssetReference": "._vocabulary",
    "ErrorResponse": "._messages",
    "HITLDetailRequestResult": "._vocabulary",
    "HITLUser": "._vocabulary",
    "PreviousTaskInstance": "._vocabulary",
    "PrevSuccessfulDagRunResult": "._vocabulary",
    "RescheduleTask": "._messages",
    "RetryTask": "._messages",
    "StartupDetails": "._messages",
    "SucceedTask": "._messages",
    "TaskInstance": "._messages",
    "TaskState": "._messages",
    "TIRunContext": "._messages",
    "VariableKeysResult": "._vocabulary",
    "VariableResult": "._messages",
    "XComResult": "._messages",
    "build_manifest": "._metadata",
    "dump_manifest": "._metadata",
    "run_task": "._runner",
    "ServeOptions": "._serve",
    "serve": "._serve",
    "JsonValue": "._wire",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trio_coord' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AwaitInput",
    "AwaitInputTask",
    "Defer",
    "DeferTask",
    "serde_decode",
    "serde_encode",
    "DEFAULT_REQUEST_TIMEOUT",
    "MAX_FRAME_SIZE",
    "SUPERVISOR_SCHEMA_VERSION",
    "ApiError",
    "ApiServerError",
    "AssetNotFound",
    "AssetStoreNotFound",
    "Bundle",
    "BundleInfo",
    "BundleLoadError",
    "CommStatistics",
    "Connection",
    "ConnectionNotFound",
    "ConnectionResult",
    "CoordinatorClient",
    "CoordinatorComm",
    "Dag",
    "DagRun",
    "DagRunAlreadyExists",
    "DispatcherClosed",
    "ErrorResponse",
    "FailTask",
    "FrameDecoder",
    "GenericApiError",
    "IncomingFrame",
    "JsonValue",
    "LocalProtocolError",
    "PendingReply",
    "PermissionDenied",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestTimeout",
    "RetryTask",
    "ServeOptions",
    "SkipTask",
    "SocketLogHandler",
    "StartupDetails",
    "SucceedTask",
    "TIRunContext",
    "Task",
    "TaskContext",
    "TaskFunction",
    "TaskInstance",
    "TaskState",
    "TaskStoreNotFound",
    "TrioCoordError",
    "VariableNotFound",
    "VariableResult",
    "XComNotFound",
    "XComResult",
    "__version__",
    "build_manifest",
    "dump_manifest",
    "install_log_handler",
    "load_bundle",
    "open_coordinator_comm",
    "parse_connection",
    "run_task",
    "serve",
    # the whole supervisor vocabulary
    "Asset",
    "AssetAlias",
    "AssetEvent",
    "AssetProfile",
    "AssetResult",
    "DagResult",
    "DagRunAssetReference",
    "HITLDetailRequestResult",
    "HITLUser",
    "Outlet",
    "OutletEvents",
    "PrevSuccessfulDagRunResult",
    "PreviousTaskInstance",
    "Reschedule",
    "RescheduleTask",
    "VariableKeysResult",
]
