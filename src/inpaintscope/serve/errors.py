"""The one error type of the HTTP API: a status code, a short machine-readable code and a
one-line message for a person, sent as ``{"error": message, "code": code}``."""

from __future__ import annotations


class ApiError(Exception):
    """A request the server refuses or could not answer; ``headers`` go into the response
    (``Retry-After`` on 503)."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def payload(self) -> dict[str, str]:
        return {"error": self.message, "code": self.code}
