"""The errors of sbx, one class per error type of the protocol.

Every error is an :class:`SbxError` with the wire error's ``type`` (the
class name), ``message`` and ``sandbox``, plus the ``feature`` and
``method`` of the call it answered when there was one. The composite
errors (:class:`FeatureTeardownError`, :class:`SessionTeardownError`) also
carry ``errors``: a map from feature name to that feature's error.

Any other type is a *user error* (SPEC §2): a class of that very name,
made on first sight, that derives from :class:`UserError` and from the
builtin exception of the same name when there is one, so that
``except ValueError`` catches a ``ValueError`` raised in a sandbox.
"""
from __future__ import annotations

import builtins
from typing import Any, Dict, Mapping, Optional, Type

__all__ = [
    "SbxError", "BadRequest", "NotFound", "UnknownName", "Unauthorized", "Timeout",
    "SandboxStateError", "EnvironmentOverloadError", "EnvironmentOutageError",
    "FeatureTeardownError", "SessionTeardownError", "LeaseExpired",
    "DaemonUnavailable", "UserError", "error_class", "error_from",
]


class SbxError(Exception):
    """Base of every error of this package."""

    #: The error type as the protocol names it (the class name).
    type: str = "SbxError"

    def __init__(self, message: str = "", *, sandbox: Optional[str] = None,
                 feature: Optional[str] = None, method: Optional[str] = None,
                 errors: Optional[Dict[str, "SbxError"]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.sandbox = sandbox
        self.feature = feature
        self.method = method
        self.errors: Dict[str, SbxError] = dict(errors or {})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.type = cls.__name__

    def __str__(self) -> str:
        text = self.message
        if self.errors:
            text += "; " + "; ".join("%s: %s: %s" % (name, error.type, error.message)
                                     for name, error in self.errors.items())
        where = []
        if self.method:
            where.append("%s.%s" % (self.feature, self.method) if self.feature else self.method)
        if self.sandbox:
            where.append("sandbox %s" % self.sandbox)
        return "%s (%s)" % (text, " in ".join(where)) if where else text

    def wire(self) -> Dict[str, Any]:
        """The error in its wire form ``{type, message, sandbox?, errors?}``."""
        wire: Dict[str, Any] = {"type": self.type, "message": self.message}
        if self.sandbox:
            wire["sandbox"] = self.sandbox
        if self.errors:
            wire["errors"] = {name: error.wire() for name, error in self.errors.items()}
        return wire

    def __reduce__(self) -> Any:
        #  User error classes are made at run time: pickle by type name.
        return (error_from, (self.wire(), None, self.feature, self.method))


class BadRequest(SbxError):
    """The request was malformed: not a map, a missing or mistyped key, an unknown op."""


class NotFound(SbxError, LookupError):
    """Unknown sandbox, session, feature or method."""


class UnknownName(NotFound, AttributeError):
    """A feature or method name that the daemon's ``hello`` does not list."""



UnknownName.type = "NotFound"


class Unauthorized(SbxError):
    """A missing or wrong token, a lapsed lease, or an op refused to this client."""


class Timeout(SbxError, TimeoutError):
    """No reply in time, while the daemon still answers ``hello``."""


class SandboxStateError(SbxError):
    """The sandbox broke: it is shut down and its session is over."""


class EnvironmentOverloadError(SbxError):
    """Every sandbox stayed busy for the whole wait."""


class EnvironmentOutageError(SbxError):
    """The environment is offline, or no sandbox could be brought up."""


class FeatureTeardownError(SbxError):
    """Features failed to tear down; ``errors`` maps each to its error."""


class SessionTeardownError(SbxError):
    """Features failed to tear a session down; ``errors`` maps each to its error."""


class LeaseExpired(SbxError):
    """The daemon ended a session whose lease lapsed (the error of its ``session.end`` event)."""


class DaemonUnavailable(SbxError, ConnectionError):
    """The daemon is not there: no connection, or no answer to ``hello`` or to heartbeats."""


class UserError(SbxError):
    """Base of the errors a feature or sandbox raised with a type of its own (SPEC §2)."""


_classes: Dict[str, Type[SbxError]] = {
    cls.__name__: cls for cls in (
        BadRequest, NotFound, Unauthorized, Timeout, SandboxStateError,
        EnvironmentOverloadError, EnvironmentOutageError, FeatureTeardownError,
        SessionTeardownError, LeaseExpired, DaemonUnavailable)
}

#  Builtins that must not be mixed in: raising them has effects of its own.
_not_mixed = (StopIteration, StopAsyncIteration)


def error_class(type_name: str) -> Type[SbxError]:
    """The class of the error type ``type_name``: a protocol error class, or
    the user error class of that name (made once, then reused)."""
    cls = _classes.get(type_name)
    if cls is not None:
        return cls
    name = type_name if type_name.isidentifier() else "UserError_"
    builtin = getattr(builtins, type_name, None)
    bases: tuple = (UserError,)
    if (isinstance(builtin, type) and issubclass(builtin, Exception)
            and not issubclass(builtin, _not_mixed)):
        bases = (UserError, builtin)
    try:
        cls = type(name, bases, {"__module__": __name__})
        cls("probe")
    except TypeError:       # e.g. UnicodeDecodeError takes five arguments
        cls = type(name, (UserError,), {"__module__": __name__})
    cls.type = type_name
    _classes[type_name] = cls
    return cls


def error_from(wire: Mapping[str, Any], sandbox: Optional[str] = None,
               feature: Optional[str] = None, method: Optional[str] = None) -> SbxError:
    """The exception for a wire error ``{type, message, sandbox?, errors?}``
    (from a reply, or an event's ``error``). ``sandbox``, ``feature`` and
    ``method`` tell where it came from when the error itself does not."""
    type_name = str(wire.get("type") or "SbxError")
    sandbox = wire.get("sandbox") or sandbox
    errors = {name: error_from(error, sandbox, name)
              for name, error in (wire.get("errors") or {}).items() if isinstance(error, Mapping)}
    cls = SbxError if type_name == "SbxError" else error_class(type_name)
    return cls(str(wire.get("message") or ""), sandbox=sandbox, feature=feature,
               method=method, errors=errors)
