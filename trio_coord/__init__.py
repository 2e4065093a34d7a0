"""trio_coord: run trio ``async def`` tasks under Apache Airflow's coordinator protocol.

Write tasks against :class:`Bundle` / :class:`TaskContext`; Airflow's
supervisor launches ``python -m trio_coord serve BUNDLE --comm=… --logs=…``
(or a packed bundle executable) and :func:`serve` runs them.
"""

from __future__ import annotations

from ._bundle import (
    Bundle as Bundle,
    Dag as Dag,
    FailTask as FailTask,
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
    BundleInfo as BundleInfo,
    Connection as Connection,
    ConnectionResult as ConnectionResult,
    DagRun as DagRun,
    ErrorResponse as ErrorResponse,
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
from ._serve import ServeOptions as ServeOptions, serve as serve
from ._version import __version__ as __version__
from ._wire import JsonValue as JsonValue

__all__ = [
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
]
