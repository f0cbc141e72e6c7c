"""PostgreSQL errors as PostgREST answers them (wire spec §2.6)."""

import pytest

from gptdesk.rest.errors import RestError, from_postgres, status_for


@pytest.mark.parametrize(
    ("sqlstate", "message", "role", "status"),
    [
        ("42501", "new row violates row-level security policy", "anon", 401),
        ("42501", "new row violates row-level security policy", "authenticated", 403),
        ("42501", "permission denied", "service_role", 403),
        ("23505", "duplicate key value", "authenticated", 409),
        ("23503", "violates foreign key constraint", "authenticated", 409),
        ("22P02", "invalid input syntax for type uuid", "authenticated", 400),
        ("23502", "null value in column", "authenticated", 400),
        ("23514", "violates check constraint", "authenticated", 400),
        ("42703", "column does not exist", "authenticated", 400),
        ("42P01", "relation does not exist", "authenticated", 404),
        ("42883", "function does not exist", "authenticated", 404),
        ("57014", "canceling statement due to statement timeout", "authenticated", 500),
        ("57P01", "terminating connection", "authenticated", 503),
        ("08006", "connection failure", "authenticated", 503),
        ("25006", "cannot execute UPDATE in a read-only transaction", "authenticated", 405),
        ("21000", "UPDATE requires a WHERE clause", "authenticated", 400),
        ("21000", "more than one row returned by a subquery", "authenticated", 500),
        ("22023", 'role "x" does not exist', "authenticated", 401),
        ("22023", "invalid parameter value", "authenticated", 400),
        ("P0001", "raised by a function", "authenticated", 400),
        ("PT402", "payment required", "authenticated", 402),
        ("PT999", "nonsense", "authenticated", 500),
        ("28000", "invalid authorization", "authenticated", 403),
        ("53300", "too many connections", "authenticated", 503),
    ],
)
def test_status_mapping(sqlstate: str, message: str, role: str, status: int) -> None:
    assert status_for(sqlstate, message, role=role) == status


def test_body_and_headers() -> None:
    error = from_postgres(
        "23505",
        'duplicate key value violates unique constraint "gpts_pkey"',
        "Key (id)=(1) already exists.",
        None,
        role="authenticated",
    )
    assert error == RestError(
        409,
        "23505",
        'duplicate key value violates unique constraint "gpts_pkey"',
        "Key (id)=(1) already exists.",
    )
    assert error.body() == {
        "code": "23505",
        "details": "Key (id)=(1) already exists.",
        "hint": None,
        "message": 'duplicate key value violates unique constraint "gpts_pkey"',
    }
    assert error.headers() == {"Proxy-Status": "PostgREST; error=23505"}
