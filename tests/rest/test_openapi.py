"""The OpenAPI document at `GET /rest/v1/`, from a schema cache built by hand."""

import json
from types import MappingProxyType
from typing import Any

import pytest

from gptdesk.rest.openapi import openapi_document
from gptdesk.rest.schema_cache import Column, ForeignKey, Function, SchemaCache, Table


def _table(name: str, *columns: Column, key: tuple[str, ...] = (), view: bool = False) -> Table:
    return Table(name, view, MappingProxyType({c.name: c for c in columns}), key)


def _fn(name: str, names: tuple[str, ...], types: tuple[str, ...], **rest: Any) -> Function:
    fields = {"defaults": 0, "return_type": "uuid", "returns_set": False, "volatility": "s"}
    return Function(name, names, types, **(fields | rest))


UUID_KEY = Column("id", "uuid", "uuid", False, "gen_random_uuid()")
CACHE = SchemaCache(
    "public",
    MappingProxyType(
        {
            "teams": _table(
                "teams",
                UUID_KEY,
                Column("name", "text", "text", False, None),
                Column("code", "character varying(8)", "varchar", True, None),
                Column("max_members", "integer", "int4", False, "10"),
                Column("created_at", "timestamp with time zone", "timestamptz", False, "now()"),
                key=("id",),
            ),
            "gpts": _table(
                "gpts",
                UUID_KEY,
                Column("team_id", "uuid", "uuid", False, None),
                Column("name", "text", "text", False, None),
                Column(
                    "status",
                    "public.gpt_status",
                    "gpt_status",
                    False,
                    "'pending'::public.gpt_status",
                ),
                Column("tags", "text[]", "_text", True, "'{}'::text[]"),
                Column("config", "jsonb", "jsonb", False, "'{}'::jsonb"),
                Column("price", "numeric(10,2)", "numeric", True, None),
                Column("slug", "text", "text", False, "lower(name)", generated=True),
                key=("id",),
            ),
            "gpt_ratings": _table(
                "gpt_ratings",
                Column("gpt_id", "uuid", "uuid", False, None),
                Column("user_id", "uuid", "uuid", False, None),
                key=("gpt_id", "user_id"),
            ),
            "active_gpts": _table(
                "active_gpts",
                Column("id", "uuid", "uuid", True, None),
                Column("name", "text", "text", True, None),
                view=True,
            ),
        }
    ),
    (
        ForeignKey("gpts_team_id_fkey", "gpts", ("team_id",), "teams", ("id",)),
        ForeignKey("gpt_ratings_gpt_id_fkey", "gpt_ratings", ("gpt_id",), "gpts", ("id",)),
    ),
    MappingProxyType(
        {
            "get_user_team_id": (_fn("get_user_team_id", ("user_uuid",), ("uuid",)),),
            "remove_team_member": (
                _fn("remove_team_member", ("member_id",), ("uuid",), volatility="v"),
            ),
            "search_gpts": (  # returns table(id uuid): `id` is an OUT argument
                _fn("search_gpts", ("query", "max_rows", "id"), ("text", "integer"), defaults=1),
            ),
            "set_updated_at": (
                _fn("set_updated_at", (), (), return_type="trigger", volatility="v"),
            ),
        }
    ),
)
DOC = openapi_document(CACHE, base_url="http://127.0.0.1:8000", version="0.1.0")


def test_the_document_is_swagger_2_and_plain_json() -> None:
    assert json.loads(json.dumps(DOC)) == DOC
    assert DOC["swagger"] == "2.0" and DOC["info"]["version"] == "0.1.0"
    assert (DOC["host"], DOC["basePath"], DOC["schemes"]) == (
        "127.0.0.1:8000",
        "/rest/v1",
        ["http"],
    )
    assert "application/vnd.pgrst.object+json" in DOC["produces"]
    assert "text/csv" in DOC["consumes"]


def test_paths_cover_tables_views_and_callable_functions() -> None:
    assert set(DOC["paths"]) == {
        "/",
        "/teams",
        "/gpts",
        "/gpt_ratings",
        "/active_gpts",
        "/rpc/get_user_team_id",
        "/rpc/remove_team_member",
        "/rpc/search_gpts",
    }  # no /rpc/set_updated_at: a trigger function cannot be called
    assert set(DOC["paths"]["/gpts"]) == {"get", "post", "patch", "delete"}
    assert set(DOC["paths"]["/active_gpts"]) == {"get"}
    refs = [p["$ref"] for p in DOC["paths"]["/teams"]["get"]["parameters"]]
    assert refs[:2] == ["#/parameters/rowFilter.teams.id", "#/parameters/rowFilter.teams.name"]
    assert refs[-3:] == ["#/parameters/offset", "#/parameters/limit", "#/parameters/preferCount"]
    rows = DOC["paths"]["/teams"]["get"]["responses"]["200"]["schema"]
    assert rows == {"type": "array", "items": {"$ref": "#/definitions/teams"}}


def test_every_reference_resolves() -> None:
    text = json.dumps(DOC["paths"]) + json.dumps(DOC["parameters"])
    for part in text.split('"$ref": "#/')[1:]:
        section, name = part.split('"', 1)[0].split("/", 1)
        assert name in DOC[section], f"{section}/{name}"


def test_columns_are_typed_as_postgrest_types_them() -> None:
    gpts = DOC["definitions"]["gpts"]["properties"]
    assert gpts["status"] == {"format": "public.gpt_status", "type": "string", "default": "pending"}
    assert gpts["tags"] == {"format": "text[]", "type": "array", "items": {"type": "string"}}
    assert gpts["config"] == {"format": "jsonb"}  # any JSON; '{}'::jsonb is not a JSON default
    assert gpts["price"] == {"format": "numeric", "type": "number"}
    assert gpts["slug"] == {"format": "text", "type": "string"}  # a generation, not a default
    teams = DOC["definitions"]["teams"]["properties"]
    assert teams["code"] == {"format": "character varying", "type": "string", "maxLength": 8}
    assert teams["max_members"] == {"format": "integer", "type": "integer", "default": 10}
    assert teams["created_at"]["format"] == "timestamp with time zone"
    assert teams["created_at"]["default"] == "now()"


def test_required_columns_and_key_notes() -> None:
    definitions = DOC["definitions"]
    assert definitions["gpts"]["required"] == ["team_id", "name"]
    assert definitions["teams"]["required"] == ["name"]
    assert "required" not in definitions["active_gpts"]
    gpts = definitions["gpts"]["properties"]
    assert gpts["id"]["description"] == "Note:\nThis is a Primary Key.<pk/>"
    assert gpts["team_id"]["description"] == (
        "Note:\nThis is a Foreign Key to `teams.id`.<fk table='teams' column='id'/>"
    )
    assert "description" not in gpts["name"]
    assert definitions["gpt_ratings"]["properties"]["gpt_id"]["description"] == (
        "Note:\nThis is a Primary Key.<pk/>\n"
        "This is a Foreign Key to `gpts.id`.<fk table='gpts' column='id'/>"
    )


def test_shared_parameters() -> None:
    parameters = DOC["parameters"]
    assert parameters["rowFilter.gpts.status"] == {
        "name": "status",
        "required": False,
        "in": "query",
        "type": "string",
    }
    assert parameters["body.teams"]["schema"] == {"$ref": "#/definitions/teams"}
    assert parameters["rangeUnit"]["default"] == "items"
    assert "resolution=merge-duplicates" in parameters["preferPost"]["enum"]
    fixed = {"preferParams", "preferReturn", "preferCount", "preferPost", "select", "on_conflict"}
    assert fixed | {"order", "range", "rangeUnit", "offset", "limit"} <= set(parameters)


@pytest.mark.parametrize(
    ("path", "methods"),
    [("/rpc/get_user_team_id", {"get", "post"}), ("/rpc/remove_team_member", {"post"})],
)
def test_volatile_functions_are_post_only(path: str, methods: set[str]) -> None:
    assert set(DOC["paths"][path]) == methods


def test_function_arguments() -> None:
    search = DOC["paths"]["/rpc/search_gpts"]
    body = search["post"]["parameters"][0]
    assert body["in"] == "body" and body["schema"] == {
        "type": "object",
        "properties": {
            "query": {"format": "text", "type": "string"},
            "max_rows": {"format": "integer", "type": "integer"},
        },
        "required": ["query"],  # max_rows has a default; id is an OUT argument
    }
    query, max_rows = search["get"]["parameters"]
    assert query == {
        "name": "query",
        "required": True,
        "in": "query",
        "type": "string",
        "format": "text",
    }
    assert (max_rows["name"], max_rows["required"], max_rows["type"]) == (
        "max_rows",
        False,
        "integer",
    )
    assert search["post"]["tags"] == ["(rpc) search_gpts"]
