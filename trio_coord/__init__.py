"""trio_coord: run trio ``async def`` tasks under Apache Airflow's coordinator protocol.

Write tasks against :class:`Bundle` / :class:`TaskContext`; Airflow's
supervisor launches ``python -m trio_coord serve BUNDLE --comm=… --logs=…``
(or a packed bundle executable) and :func:`serve` runs them.
"""

from __future__ import annotations

from ._bundle import (
    Bundle as Bundle,
)
from ._bundle import (
    Dag as Dag,
)
from ._bundle import (
    FailTask as FailTask,
)
from ._bundle import (
    SkipTask as SkipTask,
)
from ._bundle import (
    Task as Task,
)
from ._bundle import (
    TaskContext as TaskContext,
)
from ._bundle import (
    TaskFunction as TaskFunction,
)
from ._client import (
    DEFAULT_REQUEST_TIMEOUT as DEFAULT_REQUEST_TIMEOUT,
)
from ._client import (
    CoordinatorClient as CoordinatorClient,
)
from ._comm import (
    CommStatistics as CommStatistics,
)
from ._comm import (
    CoordinatorComm as CoordinatorComm,
)
from ._comm import (
    IncomingFrame as IncomingFrame,
)
from ._comm import (
    PendingReply as PendingReply,
)
from ._comm import (
    open_coordinator_comm as open_coordinator_comm,
)
from ._connection_uri import parse_connection as parse_connection
from ._errors import (
    ApiError as ApiError,
)
from ._errors import (
    ApiServerError as ApiServerError,
)
from ._errors import (
    AssetNotFound as AssetNotFound,
)
from ._errors import (
    AssetStoreNotFound as AssetStoreNotFound,
)
from ._errors import (
    ConnectionNotFound as ConnectionNotFound,
)
from ._errors import (
    DagRunAlreadyExists as DagRunAlreadyExists,
)
from ._errors import (
    DispatcherClosed as DispatcherClosed,
)
from ._errors import (
    GenericApiError as GenericApiError,
)
from ._errors import (
    LocalProtocolError as LocalProtocolError,
)
from ._errors import (
    PermissionDenied as PermissionDenied,
)
from ._errors import (
    ProtocolError as ProtocolError,
)
from ._errors import (
    RemoteProtocolError as RemoteProtocolError,
)
from ._errors import (
    RequestTimeout as RequestTimeout,
)
from ._errors import (
    TaskStoreNotFound as TaskStoreNotFound,
)
from ._errors import (
    TrioCoordError as TrioCoordError,
)
from ._errors import (
    VariableNotFound as VariableNotFound,
)
from ._errors import (
    XComNotFound as XComNotFound,
)
from ._framing import MAX_FRAME_SIZE as MAX_FRAME_SIZE
from ._framing import FrameDecoder as FrameDecoder
from ._loader import BundleLoadError as BundleLoadError
from ._loader import load_bundle as load_bundle
from ._logging import (
    SocketLogHandler as SocketLogHandler,
)
from ._logging import (
    install_log_handler as install_log_handler,
)
from ._messages import (
    SUPERVISOR_SCHEMA_VERSION as SUPERVISOR_SCHEMA_VERSION,
)
from ._messages import (
    BundleInfo as BundleInfo,
)
from ._messages import (
    Connection as Connection,
)
from ._messages import (
    ConnectionResult as ConnectionResult,
)
from ._messages import (
    DagRun as DagRun,
)
from ._messages import (
    ErrorResponse as ErrorResponse,
)
from ._messages import (
    RetryTask as RetryTask,
)
from ._messages import (
    StartupDetails as StartupDetails,
)
from ._messages import (
    SucceedTask as SucceedTask,
)
from ._messages import (
    TaskInstance as TaskInstance,
)
from ._messages import (
    TaskState as TaskState,
)
from ._messages import (
    TIRunContext as TIRunContext,
)
from ._messages import (
    VariableResult as VariableResult,
)
from ._messages import (
    XComResult as XComResult,
)
from ._metadata import build_manifest as build_manifest
from ._metadata import dump_manifest as dump_manifest
from ._runner import run_task as run_task
from ._serve import ServeOptions as ServeOptions
from ._serve import serve as serve
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
