"""SQL building, pure: values only ever as bind parameters, identifiers quoted from the cache."""

import pytest

from gptdesk.rest.errors import RestError
from gptdesk.rest.mutation import plan_write, write_sql
from gptdesk.rest.plan import plan_filters, plan_read
from gptdesk.rest.preferences import parse_prefer
from gptdesk.rest.query import parse_query
from gptdesk.rest.rpc import plan_get, plan_post, scalar_sql
from gptdesk.rest.sql import Statement, base_type, read_sql
from tests.rest.cache import CACHE, GPTS

EVIL = "x'); drop table gpts; --"


def read(items: list[tuple[str, str]], **kw: bool) -> Statement:
    node = plan_read(CACHE, GPTS, parse_query(items), max_rows=1000)
    return read_sql(node, schema="public", **kw)


def test_values_are_parameters_cast_to_the_column_type() -> None:
    statement = read([("select", "id"), ("name", f"eq.{EVIL}"), ("status", "in.(active,x)")])
    assert EVIL not in statement.sql
    assert EVIL in statement.params and ["active", "x"] in statement.params
    assert '"name" = $1::text::character varying' in statement.sql  # no typmod: no truncation
    assert "= any($2::text[]::public.gpt_status[])" in statement.sql
    assert statement.params[-1] == 1000  # the capped page


@pytest.mark.parametrize(
    ("filter_", "fragment"),
    [
        ("is.null", '"settings" is null'),
        ("not.is.null", 'not ("settings" is null)'),
        ('cs.{"a":1}', '"settings" @> $1::text::jsonb'),
    ],
)
def test_filter_shapes(filter_: str, fragment: str) -> None:
    statement = read([("select", "id"), ("settings", filter_)])
    assert fragment in statement.sql.replace("pgrst_1.", "")


def test_full_text_search_uses_a_cached_config_literal() -> None:
    statement = read([("select", "id"), ("name", "wfts(english).fat cat")])
    assert "to_tsvector('english'::regconfig, pgrst_1.\"name\")" in statement.sql
    assert "websearch_to_tsquery('english'::regconfig, $1::text)" in statement.sql
    vector = read([("select", "id"), ("search", "fts.fat")])
    assert 'pgrst_1."search" @@ to_tsquery($1::text)' in vector.sql


def test_quantified_and_like_operators() -> None:
    statement = read(
        [("select", "id"), ("name", "like(any).{a*,b*}"), ("usage_count", "gt(all).{1,2}")]
    )
    assert "::text like any($1::text[])" in statement.sql
    assert statement.params[0] == ["a%", "b%"]
    assert "> all($2::text[]::integer[])" in statement.sql


def test_json_path_keys_are_parameters() -> None:
    statement = read([("select", "id"), ("settings->a->>b", f"eq.{EVIL}")])
    assert statement.params[:3] == ["a", "b", EVIL]
    assert "->$1::text)->>$2::text)" in statement.sql


def test_count_and_csv_shapes() -> None:
    counted = read([("select", "id")], count=True)
    assert "select count(*) from (" in counted.sql
    csv = read([("select", "id")], csv=True)
    assert "json_object_keys" in csv.sql and "json_agg" not in csv.sql


def test_base_type_drops_modifiers_only() -> None:
    assert base_type("character varying(255)") == "character varying"
    assert base_type("numeric(10,2)") == "numeric"
    assert base_type("timestamp(3) with time zone") == "timestamp with time zone"


def test_insert_sql_spreads_the_body_in_postgresql() -> None:
    body = b'[{"name": "a", "tags": ["x"]}, {"name": "b", "tags": []}]'
    mutation = plan_write(
        GPTS, "insert", body, columns=None, on_conflict=None, where=(),
        preferences=parse_prefer(["missing=default"]),
    )  # fmt: skip
    statement = write_sql(mutation, schema="public", representation=None)
    assert statement.params == [body.decode()]
    assert 'jsonb_populate_record(null::"public"."gpts", pgrst_e.j)' in statement.sql
    assert "case when pgrst_e.j ? 'tags' then pgrst_p.\"tags\" else null end" in statement.sql


def test_upsert_conflict_target_defaults_to_the_primary_key() -> None:
    mutation = plan_write(
        GPTS, "insert", b'{"id": "1", "name": "a"}', columns=None, on_conflict=None, where=(),
        preferences=parse_prefer(["resolution=merge-duplicates"]),
    )  # fmt: skip
    sql = write_sql(mutation, schema="public", representation=None).sql
    assert 'on conflict ("id") do update set "name" = excluded."name"' in sql


def test_unfiltered_update_and_delete_are_refused() -> None:
    for kind in ("update", "delete"):
        with pytest.raises(RestError) as caught:
            plan_write(
                GPTS, kind, b'{"name": "x"}', columns=None, on_conflict=None, where=(),  # type: ignore[arg-type]
                preferences=parse_prefer([]),
            )  # fmt: skip
        assert caught.value.code == "21000"


def test_update_with_representation_reads_the_returning_rows() -> None:
    where = plan_filters(CACHE, GPTS, parse_query([("id", "eq.1")]))
    mutation = plan_write(
        GPTS, "update", b'{"name": "b"}', columns=None, on_conflict=None, where=where,
        preferences=parse_prefer([]),
    )  # fmt: skip
    node = plan_read(CACHE, GPTS, parse_query([("select", "name")]))
    statement = write_sql(mutation, schema="public", representation=node, count=True)
    assert statement.sql.startswith("with pgrst_source as (update")
    assert "returning pgrst_t.*" in statement.sql and "from pgrst_source" in statement.sql


def test_rpc_resolution_and_sql() -> None:
    call = plan_post(CACHE, "rate_gpt", b'{"gpt_id": "g", "rating": 5}')
    statement = Statement()
    sql = scalar_sql(call, statement, "public")
    assert 'jsonb_to_record($1::text::jsonb) pgrst_args("gpt_id" uuid, "rating" integer)' in sql
    assert '"public"."rate_gpt"("gpt_id" => pgrst_args."gpt_id"' in sql
    whole = plan_post(CACHE, "echo", b'{"anything": [1]}')
    assert whole.whole_body
    get = plan_get(CACHE, "team_gpts", {"team": ["t"]})
    assert get.text_arguments == {"team": "t"}
    for name, body, code in (
        ("nope", b"{}", "PGRST202"),
        ("rate_gpt", b'{"gpt_id": "g"}', "PGRST202"),  # a required argument missing
        ("pair", b'{"a": 1}', "PGRST203"),
        ("rate_gpt", b"{oops", "PGRST102"),
    ):
        with pytest.raises(RestError) as caught:
            plan_post(CACHE, name, body)
        assert caught.value.code == code, name


def test_counting_skips_columns_and_embeds_no_filter_needs() -> None:
    items = [("select", "id,chat_sessions(id),teams!inner(name)")]
    node = plan_read(CACHE, GPTS, parse_query(items))
    statement = read_sql(node, schema="public", count=True)
    counted = statement.sql.split("(select count(*) from (", 1)[1]
    counted = counted.split(") pgrst_all)", 1)[0]
    assert '"teams"' in counted and '"chat_sessions"' not in counted
