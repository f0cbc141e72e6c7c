"""The URL grammar, as the official clients write it (wire spec §2.2 and §2.7)."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gptdesk.rest.ast import (
    Field,
    Filter,
    JsonStep,
    Logic,
    Operation,
    OrderTerm,
    SelectEmbed,
    SelectField,
    SelectStar,
)
from gptdesk.rest.grammar import (
    GrammarError,
    parse_filter,
    parse_logic,
    parse_operation,
    parse_order,
    parse_select,
)


def test_the_seed_select() -> None:
    assert parse_select("id,name,description,usage_count") == tuple(
        SelectField(Field(n)) for n in ("id", "name", "description", "usage_count")
    )


def test_empty_select_is_star() -> None:
    assert parse_select("") == (SelectStar(),)


def test_aliases_casts_and_json_paths() -> None:
    assert parse_select("label:name,id::text,theme:settings->>theme,settings->a->0") == (
        SelectField(Field("name"), alias="label"),
        SelectField(Field("id"), cast="text"),
        SelectField(Field("settings", (JsonStep("theme", True),)), alias="theme"),
        SelectField(Field("settings", (JsonStep("a", False), JsonStep("0", False)))),
    )


def test_embeds() -> None:
    parsed = parse_select("id,owner:users!gpts_creator_id_fkey!inner(id,email),chat_sessions(*)")
    assert parsed == (
        SelectField(Field("id")),
        SelectEmbed(
            "users",
            (SelectField(Field("id")), SelectField(Field("email"))),
            alias="owner",
            hint="gpts_creator_id_fkey",
            join="inner",
        ),
        SelectEmbed("chat_sessions", (SelectStar(),)),
    )
    assert parse_select("...teams(name)") == (
        SelectEmbed("teams", (SelectField(Field("name")),), spread=True),
    )
    nested = parse_select("id,chat_sessions(id,chat_messages(content))")[1]
    assert isinstance(nested, SelectEmbed) and isinstance(nested.children[1], SelectEmbed)


@pytest.mark.parametrize(
    "bad",
    [
        "id,,name",
        "id,(name",
        "users(id",
        "count()",
        "usage_count.sum()",
        'na"me',
        "...name",
        "id::te;xt",
        "a!b!c(id)",
    ],
)
def test_bad_selects_are_pgrst100(bad: str) -> None:
    with pytest.raises(GrammarError) as failure:
        parse_select(bad)
    assert failure.value.code == "PGRST100"
    assert failure.value.message == f"failed to parse select parameter ({bad})"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eq.active", Operation("eq", "active")),
        ("not.eq.3", Operation("eq", "3", negated=True)),
        ("in.(active,draft)", Operation("in", ("active", "draft"))),
        ('in.(a,"b,c","d\\"e")', Operation("in", ("a", "b,c", 'd"e'))),
        ("is.null", Operation("is", "null")),
        ("ilike.*bot*", Operation("ilike", "%bot%")),
        ("like(any).{a*,b*}", Operation("like", ("a%", "b%"), quantifier="any")),
        ("fts(english).fat & cat", Operation("fts", "fat & cat", fts_config="english")),
        ("wfts.gpt desk", Operation("wfts", "gpt desk")),
        ("cs.{a,b}", Operation("cs", "{a,b}")),
        ("eq.a.b.c", Operation("eq", "a.b.c")),
        ("eq.", Operation("eq", "")),
    ],
)
def test_operations(text: str, expected: Operation) -> None:
    assert parse_operation(text, "status") == expected


@pytest.mark.parametrize(
    "bad", ["active", "equals.1", "is.maybe", "in.a,b", "in.(a", "eq(any).1", "not.", "fts().x"]
)
def test_bad_operations(bad: str) -> None:
    with pytest.raises(GrammarError):
        parse_operation(bad, "status")


def test_filters_on_embeds_and_json() -> None:
    assert parse_filter("users.email", "eq.a@b.c") == Filter(
        Field("email"), Operation("eq", "a@b.c"), ("users",)
    )
    assert parse_filter("settings->>theme", "eq.dark") == Filter(
        Field("settings", (JsonStep("theme", True),)), Operation("eq", "dark")
    )


def test_logic_trees() -> None:
    parsed = parse_logic("or", "(usage_count.gt.5,name.ilike.*bot*,and(a.is.null,b.not.lt.5))")
    assert parsed == Logic(
        "or",
        (
            Filter(Field("usage_count"), Operation("gt", "5")),
            Filter(Field("name"), Operation("ilike", "%bot%")),
            Logic(
                "and",
                (
                    Filter(Field("a"), Operation("is", "null")),
                    Filter(Field("b"), Operation("lt", "5", negated=True)),
                ),
            ),
        ),
    )
    assert parse_logic("chat_sessions.not.and", "(a.eq.1)") == Logic(
        "and", (Filter(Field("a"), Operation("eq", "1")),), True, ("chat_sessions",)
    )


@pytest.mark.parametrize("value", ["a.eq.1", "(a.eq.1", "(a)", "(a.eq.1,)", "(and(a.eq.1)"])
def test_bad_logic(value: str) -> None:
    with pytest.raises(GrammarError):
        parse_logic("or", value)


def test_deep_logic_is_refused_not_recursed() -> None:
    value = "(" + "and(" * 40 + "a.eq.1" + ")" * 40 + ")"
    with pytest.raises(GrammarError, match="or parameter"):
        parse_logic("or", value)


def test_order() -> None:
    assert parse_order("usage_count.desc,name,created_at.asc.nullsfirst,users(email).desc") == (
        OrderTerm(Field("usage_count"), descending=True),
        OrderTerm(Field("name")),
        OrderTerm(Field("created_at"), nulls_first=True),
        OrderTerm(Field("email"), descending=True, relation="users"),
    )
    assert parse_order("settings->>theme.desc.nullslast") == (
        OrderTerm(Field("settings", (JsonStep("theme", True),)), True, False),
    )


@pytest.mark.parametrize("bad", ["name.down", ",name", "users(email.desc", "name.desc,"])
def test_bad_order(bad: str) -> None:
    with pytest.raises(GrammarError):
        parse_order(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_no_input_raises_anything_but_a_grammar_error(text: str) -> None:
    for parse in (
        parse_select,
        parse_order,
        lambda t: parse_logic("or", t),
        lambda t: parse_operation(t, "x"),
        lambda t: parse_filter(t or "x", "eq.1"),
    ):
        with contextlib.suppress(GrammarError):
            parse(text)
