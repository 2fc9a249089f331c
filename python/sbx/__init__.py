"""sbx: the Python client of sbx, the sandbox runtime for AI agents.

    import sbx

    env = sbx.Environment("tcp://127.0.0.1:5555")
    with env.sandbox() as sb:
        print(sb.shell.run("echo hi").stdout)

:mod:`sbx.aio` has the same API for asyncio. See docs/python.md.
"""
from ._core import DEFAULT_ENDPOINT, Catalog, FeatureInfo, Result
from .client import Environment, Events, Sandbox, Stream
from .errors import (BadRequest, DaemonUnavailable, EnvironmentOutageError,
                     EnvironmentOverloadError, FeatureTeardownError, LeaseExpired, NotFound,
                     SandboxStateError, SbxError, SessionTeardownError, Timeout, Unauthorized,
                     UnknownName, UserError, error_class, error_from)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ENDPOINT", "Catalog", "FeatureInfo", "Result",
    "Environment", "Events", "Sandbox", "Stream",
    "SbxError", "BadRequest", "NotFound", "UnknownName", "Unauthorized", "Timeout",
    "SandboxStateError", "EnvironmentOverloadError", "EnvironmentOutageError",
    "FeatureTeardownError", "SessionTeardownError", "LeaseExpired", "DaemonUnavailable",
    "UserError", "error_class", "error_from",
]
