"""The read planner and relationship finder, pure: names resolved or refused, no database."""

import pytest

from gptdesk.rest.errors import RestError
from gptdesk.rest.plan import (
    Condition,
    Embed,
    EmbedIsNull,
    Output,
    Tree,
    plan_filters,
    plan_read,
)
from gptdesk.rest.query import parse_query
from gptdesk.rest.relationships import find_relationship
from tests.rest.cache import CACHE, GPTS


def plan(query: str, table: str = "gpts", max_rows: int | None = None):  # type: ignore[no-untyped-def]
    items = [tuple(part.split("=", 1)) for part in query.split("&") if part]
    return plan_read(CACHE, CACHE.tables[table], parse_query(items), max_rows=max_rows)


def refused(query: str, table: str = "gpts") -> RestError:
    with pytest.raises(RestError) as caught:
        plan(query, table)
    return caught.value


def test_star_expands_to_the_cached_columns_in_order() -> None:
    node = plan("select=*")
    assert [o.key for o in node.outputs] == list(GPTS.columns)  # type: ignore[union-attr]


def test_alias_json_path_and_cast() -> None:
    node = plan("select=n:name,settings->>theme,usage_count::int")
    outputs = [o for o in node.outputs if isinstance(o, Output)]
    assert [(o.key, o.cast) for o in outputs] == [
        ("n", None),
        ("theme", None),
        ("usage_count", '"pg_catalog"."int4"'),
    ]
    assert outputs[1].expr.value_type == "text"


def test_unknown_names_are_refused_with_postgrest_codes() -> None:
    assert refused("select=nope").code == "42703"
    assert refused("nope=eq.1").code == "42703"
    assert refused("order=nope").code == "42703"
    assert refused("select=id::made_up").code == "42704"
    assert refused("search=fts(klingon).x").code == "42704"
    error = refused("select=id,owners(*)")
    assert (error.status, error.code) == (400, "PGRST200")
    assert refused("teams.name=eq.x").code == "PGRST108"
    assert refused("teams.order=name").code == "PGRST108"


def test_embeds_follow_foreign_keys_both_ways() -> None:
    node = plan("select=id,owner:users!creator_id(email),chat_sessions(title),teams!inner(name)")
    owner, sessions, team = [o for o in node.outputs if isinstance(o, Embed)]
    assert owner.relationship.to_one and owner.relationship.pairs == (("creator_id", "id"),)
    assert not sessions.relationship.to_one
    assert sessions.relationship.pairs == (("id", "gpt_id"),)
    assert team.inner and EmbedIsNull("teams", True) in node.where


def test_embed_filters_order_and_page_by_alias_or_table_name() -> None:
    node = plan(
        "select=owner:users!creator_id(email)&users.email=eq.a&owner.order=email.desc&owner.limit=2"
    )
    [owner] = node.outputs
    assert isinstance(owner, Embed)
    assert isinstance(owner.node.where[0], Condition)
    assert owner.node.order[0].descending and owner.node.page.limit == 2


def test_embed_null_filter_and_logic() -> None:
    node = plan("select=id,chat_sessions(id)&chat_sessions=not.is.null&or=(id.eq.1,name.eq.x)")
    assert node.where[0] == EmbedIsNull("chat_sessions", True)
    assert isinstance(node.where[1], Tree) and node.where[1].operator == "or"
    assert refused("select=id,chat_sessions(id)&chat_sessions=eq.1").code == "PGRST120"


def test_ambiguity_is_pgrst201_and_a_hint_resolves_it() -> None:
    # gpts reach users by creator_id and through gpt_ratings (a junction: its primary key
    # holds a foreign key to each), as PostgREST sees it.
    with pytest.raises(RestError) as ambiguous:
        find_relationship(CACHE, "gpts", "users", None)
    assert (ambiguous.value.status, ambiguous.value.code) == (300, "PGRST201")
    assert "'users!gpts_creator_id_fkey', 'users!gpt_ratings'" in str(ambiguous.value.hint)
    assert [d["cardinality"] for d in ambiguous.value.details] == ["many-to-one", "many-to-many"]
    by_hint = find_relationship(CACHE, "gpts", "users", "creator_id")
    assert by_hint.fk.name == "gpts_creator_id_fkey" and by_hint.to_one
    raters = find_relationship(CACHE, "gpts", "users", "gpt_ratings")
    assert raters.junction is not None and not raters.to_one
    by_column = find_relationship(CACHE, "gpts", "creator_id", None)
    assert by_column.target == "users"
    with pytest.raises(RestError) as caught:
        find_relationship(CACHE, "gpts", "users", "no_such_fk")
    assert caught.value.code == "PGRST200"


def test_pk_foreign_key_is_one_to_one_others_one_to_many() -> None:
    assert not find_relationship(CACHE, "gpts", "gpt_ratings", None).to_one
    assert find_relationship(CACHE, "gpt_ratings", "gpts", None).to_one


def test_related_order_needs_a_to_one_embed() -> None:
    node = plan("select=id,owner:users!creator_id(email)&order=owner(email).desc.nullslast")
    [term] = node.order
    assert term.related is not None and term.nulls_first is False
    assert refused("select=id,chat_sessions(id)&order=chat_sessions(id)").code == "PGRST118"
    assert refused("select=id&order=users(email)").code == "PGRST108"


def test_spread_only_of_to_one() -> None:
    node = plan("select=id,...users!creator_id(email)")
    embed = node.outputs[1]
    assert isinstance(embed, Embed) and embed.spread
    assert refused("select=id,...chat_sessions(id)").code == "PGRST119"


def test_max_rows_caps_the_root_page() -> None:
    assert plan("select=id", max_rows=1000).page.limit == 1000
    assert plan("select=id&limit=5", max_rows=1000).page.limit == 5
    assert plan("select=id&limit=99999", max_rows=1000).page.limit == 1000


def test_filters_of_a_write_refuse_embeds() -> None:
    items = [("teams.name", "eq.x")]
    with pytest.raises(RestError) as caught:
        plan_filters(CACHE, GPTS, parse_query(items))
    assert caught.value.code == "PGRST108"
    [condition] = plan_filters(CACHE, GPTS, parse_query([("name", "eq.x")]))
    assert isinstance(condition, Condition)
