"""The service's own failures, kept apart from user-code failures.

User code that raises, times out or runs out of memory is a result (HTTP 200 with a
status); only these are service faults, and each maps to one HTTP status so the client
can raise a typed exception and the trainer sees an outage instead of a silent zero.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of the service's faults; `http_status` is what the API answers."""

    http_status = 500


class SessionNotFound(SandboxError):
    """No session with this id: never created, closed, or reaped after its idle timeout."""

    http_status = 404

    def __init__(self, session_id: str) -> None:
        super().__init__(f"no sandbox session {session_id!r}: it was closed, expired after its idle timeout, "
                         "or never existed; create a new one with POST /sessions")
        self.session_id = session_id


class WrongReplica(SandboxError):
    """The session lives on another replica: the caller sent it past the session's `url`.

    421 Misdirected Request rather than 404, so a routing fault (a client that sends a
    session's calls through the balancing Service) is not mistaken for an expired session.
    """

    http_status = 421

    def __init__(self, session_id: str, replica: str) -> None:
        super().__init__(f"sandbox session {session_id!r} was not opened on this replica ({replica!r}); send every "
                         "call of a session to the url POST /sessions answered with")
        self.session_id = session_id


class PoolExhausted(SandboxError):
    """Every worker is busy and none became free in time; retry later or add replicas."""

    http_status = 503


class BadImage(SandboxError):
    """The session's input image is not base64 of a decodable image."""

    http_status = 422


class WorkerFailed(SandboxError):
    """A worker died or broke protocol while starting; the pool replaces it."""

    http_status = 503
