"""PostgREST's errors: `{code, message, details, hint}` with the status PostgREST gives.

One error type for the whole REST pipeline (parse, plan, execute) and one pure mapping from
a PostgreSQL error (SQLSTATE) to the HTTP status, as PostgREST's Error.hs has it.
"""

from dataclasses import dataclass
from typing import Any


@dataclass
class RestError(Exception):
    """An error as the REST surface answers it.

    Not frozen: raising through a context manager sets the exception's `__traceback__`.
    """

    status: int
    code: str
    message: str
    details: Any = None  # a string, or PGRST201's list of candidates
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def body(self) -> dict[str, Any]:
        """The JSON body (all four keys, as PostgREST's verbose errors have them)."""
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }

    def headers(self) -> dict[str, str]:
        """Proxy-Status names the code even when the body is dropped (HEAD)."""
        return {"Proxy-Status": f"PostgREST; error={self.code}"}


_CLASS_STATUS = {
    "08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500, "38": 500,
    "39": 500, "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500, "57": 500, "58": 500,
    "F0": 500, "HV": 500, "XX": 500, "P0": 500,
}  # fmt: skip
_CODE_STATUS = {
    "23503": 409, "23505": 409, "25006": 405, "42883": 404, "42P01": 404, "42P17": 500,
    "53400": 500, "57P01": 503, "P0001": 400,
}  # fmt: skip


def status_for(sqlstate: str, message: str, *, role: str) -> int:
    """The HTTP status PostgREST answers a PostgreSQL error with.

    42501 (insufficient privilege, RLS refusals included) is 401 for the anonymous role and
    403 for everyone else; `PTxyz` codes from RAISE carry their status; the rest is 400.
    """
    if sqlstate == "42501":
        return 401 if role == "anon" else 403
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        status = int(sqlstate[2:])
        return status if 100 <= status <= 599 else 500
    if sqlstate == "21000":
        return 400 if "requires a WHERE clause" in message else 500
    if sqlstate == "22023":
        return 401 if message.startswith("role") and "does not exist" in message else 400
    if sqlstate in _CODE_STATUS:
        return _CODE_STATUS[sqlstate]
    return _CLASS_STATUS.get(sqlstate[:2], 400)


def from_postgres(
    sqlstate: str, message: str, detail: str | None, hint: str | None, *, role: str
) -> RestError:
    """A PostgreSQL error as PostgREST reports it."""
    return RestError(status_for(sqlstate, message, role=role), sqlstate, message, detail, hint)
