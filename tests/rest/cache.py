"""A small hand-built schema cache for the pure REST tests (no database)."""

from types import MappingProxyType

from gptdesk.rest.schema_cache import Column, ForeignKey, Function, SchemaCache, Table


def _table(name: str, columns: list[Column], pk: tuple[str, ...] = ("id",)) -> Table:
    return Table(name, False, MappingProxyType({c.name: c for c in columns}), pk)


def _col(name: str, data_type: str, type_name: str | None = None, **kw: object) -> Column:
    return Column(name, data_type, type_name or data_type, bool(kw.get("nullable", True)),
                  kw.get("default"))  # type: ignore[arg-type]  # fmt: skip


TEAMS = _table("teams", [_col("id", "uuid"), _col("name", "character varying(255)", "varchar")])
USERS = _table(
    "users",
    [_col("id", "uuid"), _col("email", "text"), _col("team_id", "uuid"),
     _col("preferences", "jsonb")],
)  # fmt: skip
GPTS = _table(
    "gpts",
    [
        _col("id", "uuid", default="gen_random_uuid()"),
        _col("name", "character varying(255)", "varchar", nullable=False),
        _col("status", "public.gpt_status", "gpt_status", default="'active'::public.gpt_status"),
        _col("team_id", "uuid"),
        _col("creator_id", "uuid", default="auth.uid()"),
        _col("usage_count", "integer", "int4", default="0"),
        _col("tags", "text[]", "_text"),
        _col("settings", "jsonb"),
        _col("search", "tsvector"),
    ],
)
SESSIONS = _table(
    "chat_sessions", [_col("id", "uuid"), _col("gpt_id", "uuid"), _col("title", "text")]
)
RATINGS = _table(
    "gpt_ratings",
    [_col("gpt_id", "uuid"), _col("user_id", "uuid"), _col("rating", "smallint", "int2")],
    ("gpt_id", "user_id"),
)
FKS = (
    ForeignKey("users_team_id_fkey", "users", ("team_id",), "teams", ("id",)),
    ForeignKey("gpts_team_id_fkey", "gpts", ("team_id",), "teams", ("id",)),
    ForeignKey("gpts_creator_id_fkey", "gpts", ("creator_id",), "users", ("id",)),
    ForeignKey("chat_sessions_gpt_id_fkey", "chat_sessions", ("gpt_id",), "gpts", ("id",)),
    ForeignKey("gpt_ratings_gpt_id_fkey", "gpt_ratings", ("gpt_id",), "gpts", ("id",)),
    ForeignKey("gpt_ratings_user_id_fkey", "gpt_ratings", ("user_id",), "users", ("id",)),
)
FUNCTIONS = {
    "rate_gpt": (
        Function("rate_gpt", ("gpt_id", "rating"), ("uuid", "integer"), 0, "numeric", False, "v"),
    ),
    "team_gpts": (
        Function("team_gpts", ("team",), ("uuid",), 0, "public.gpts", True, "s", "gpts"),
    ),
    "echo": (Function("echo", ("",), ("jsonb",), 0, "jsonb", False, "i"),),
    "ping": (Function("ping", (), (), 0, "void", False, "v"),),
    "pair": (
        Function("pair", ("a",), ("integer",), 0, "integer", False, "i"),
        Function("pair", ("a",), ("text",), 0, "integer", False, "i"),
    ),
}
CACHE = SchemaCache(
    "public",
    MappingProxyType({t.name: t for t in (TEAMS, USERS, GPTS, SESSIONS, RATINGS)}),
    FKS,
    MappingProxyType(FUNCTIONS),
    MappingProxyType({"int4": '"pg_catalog"."int4"', "text": '"pg_catalog"."text"'}),
    frozenset({"english", "simple"}),
)
