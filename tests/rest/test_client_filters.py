"""Horizontal filters through supabase-py: each operator, logic trees and order, as PostgREST.

Comparisons, patterns (like, ilike, match and their any/all forms), in, is, isdistinct and
not; or/and trees with negations, quoted values and in-lists; array and jsonb containment;
null ordering. A value the column's type refuses is PostgreSQL's 22P02, with status 400.
"""

from typing import Any

import httpx
from postgrest.types import CountMethod

from tests.rest.client_world import (
    ALL_IN_A,
    CODE_BOT,
    DESK_HELPER,
    DESK_WRITER,
    SALES_COACH,
    SESSION_A,
    WRITER_DESCRIPTION,
    ClientFor,
    api_error,
    names,
    team_a_gpts,
)
from tests.rest.world import TEAM_A, World


def test_eq_and_neq(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    assert names(team_a_gpts(client).eq("category", "engineering").execute().data) == ["Code Bot"]
    assert names(team_a_gpts(client).neq("status", "active").execute().data) == ["Legal Reviewer"]


def test_comparisons(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")

    def by_usage(query: Any) -> list[str]:
        return names(query.order("usage_count").execute().data)

    assert by_usage(team_a_gpts(client).gt("usage_count", 40)) == ["Desk Helper", "Legal Reviewer"]
    assert by_usage(team_a_gpts(client).gte("usage_count", 40)) == [
        "Desk Writer",
        "Desk Helper",
        "Legal Reviewer",
    ]
    assert by_usage(team_a_gpts(client).lt("usage_count", 11)) == [
        "Team A public GPT",
        "Team A private GPT",
    ]
    assert by_usage(team_a_gpts(client).lte("usage_count", 11)) == [
        "Team A public GPT",
        "Team A private GPT",
        "Filler 01",
    ]
    assert by_usage(team_a_gpts(client).gt("usage_count", 12).lt("usage_count", 15)) == [
        "Filler 03",
        "Filler 04",
    ]


def test_comparisons_on_timestamps_and_numerics(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    rated = team_a_gpts(client).gte("rating", "4.5").execute().data
    assert names(rated) == ["Team A private GPT"]
    old = team_a_gpts(client).lt("created_at", "2000-01-01T00:00:00+00:00").execute().data
    assert old == []


def test_like_and_ilike(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    assert names(team_a_gpts(client).like("name", "Desk%").order("name").execute().data) == [
        "Desk Helper",
        "Desk Writer",
    ]
    assert team_a_gpts(client).like("name", "desk%").execute().data == []
    assert names(team_a_gpts(client).like("name", "*Bot").execute().data) == ["Code Bot"]
    assert names(team_a_gpts(client).ilike("name", "%WRITER").execute().data) == ["Desk Writer"]


def test_match_and_imatch(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    matched = team_a_gpts(client).filter("name", "match", "^Desk (H|W)").order("name").execute()
    assert names(matched.data) == ["Desk Helper", "Desk Writer"]
    imatched = team_a_gpts(client).filter("name", "imatch", "bot$").execute()
    assert names(imatched.data) == ["Code Bot"]


def test_like_and_ilike_any_and_all_of(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    any_of = team_a_gpts(client).ilike_any_of("name", "%coach,%bot").order("name").execute()
    assert names(any_of.data) == ["Code Bot", "Sales Coach"]
    all_of = team_a_gpts(client).like_all_of("name", "Desk%,%er").order("name").execute()
    assert names(all_of.data) == ["Desk Helper", "Desk Writer"]


def test_in(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    rows = team_a_gpts(client).in_("name", ["Code Bot", "Sales Coach", "Nobody"]).order("name")
    assert names(rows.execute().data) == ["Code Bot", "Sales Coach"]
    statuses = team_a_gpts(client).in_("status", ["inactive", "suspended"]).execute()
    assert names(statuses.data) == ["Legal Reviewer"]
    assert team_a_gpts(client).in_("name", []).execute().data == []


def test_in_with_reserved_characters(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .in_("description", [WRITER_DESCRIPTION, "Checks contracts"])
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Desk Writer", "Legal Reviewer"]


def test_is(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    assert names(team_a_gpts(client).is_("description", None).execute().data) == ["Sales Coach"]
    assert names(team_a_gpts(client).is_("is_public", True).execute().data) == ["Team A public GPT"]
    not_public = team_a_gpts(client).is_("is_public", False).execute().data
    assert len(not_public) == ALL_IN_A - 1


def test_is_distinct(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .filter("category", "isdistinct", "misc")
        .neq("category", "support")
        .order("name")
        .execute()
    )
    # Unlike neq, IS DISTINCT FROM keeps the rows whose category is null; neq drops them.
    assert names(rows.data) == [
        "Code Bot", "Desk Writer", "Legal Reviewer", "Sales Coach"
    ]  # fmt: skip
    with_nulls = (
        team_a_gpts(client_for("user_a"))
        .filter("category", "isdistinct", "misc")
        .is_("category", None)
        .order("name")
        .execute()
    )
    assert names(with_nulls.data) == ["Team A private GPT", "Team A public GPT"]


def test_not(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    assert names(team_a_gpts(client).not_.eq("status", "active").execute().data) == [
        "Legal Reviewer"
    ]
    described = team_a_gpts(client).not_.is_("description", None).execute().data
    assert "Sales Coach" not in names(described)
    assert len(described) == ALL_IN_A - 1
    outside = (
        team_a_gpts(client)
        .not_.in_("category", ["misc", "support", "writing", "engineering"])
        .order("name")
        .execute()
    )
    # NOT IN leaves out rows whose category is null, as SQL does.
    assert names(outside.data) == ["Legal Reviewer", "Sales Coach"]
    assert names(team_a_gpts(client).not_.like("name", "*e*").execute().data) == []


def test_or_nested_with_and(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .eq("status", "active")
        .or_("usage_count.gte.40,and(category.eq.engineering,usage_count.lt.35)")
        .order("usage_count", desc=True)
        .execute()
        .data
    )
    assert names(rows) == ["Desk Helper", "Desk Writer", "Code Bot"]


def test_or_with_negations_and_nested_or(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .or_(
            "and(category.eq.misc,usage_count.not.lt.18),"
            "and(status.eq.active,or(name.eq.Sales Coach,description.is.null))"
        )
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Filler 08", "Sales Coach"]
    negated_tree = (
        team_a_gpts(client_for("user_a"))
        .eq("category", "misc")
        .or_("not.and(usage_count.gte.12,usage_count.lte.17),name.eq.Nobody")
        .order("name")
        .execute()
        .data
    )
    assert names(negated_tree) == ["Filler 01", "Filler 08"]


def test_or_with_quoted_values(catalog: World, client_for: ClientFor) -> None:
    # Inside a logic tree a value may be double-quoted (a backslash escapes the next
    # character), so it can hold the tree's own separators.
    plain = team_a_gpts(client_for("user_a")).or_('name.eq."Code Bot",name.eq.x').execute()
    assert names(plain.data) == ["Code Bot"]
    rows = (
        team_a_gpts(client_for("user_a"))
        .or_('description.eq."Drafts replies, \\"politely\\"",category.eq.legal')
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Desk Writer", "Legal Reviewer"]


def test_or_with_in_lists(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .or_('name.in.("Code Bot","Sales Coach"),category.in.(legal)')
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Code Bot", "Legal Reviewer", "Sales Coach"]


def test_top_level_value_is_taken_literally(catalog: World, client_for: ClientFor) -> None:
    rows = team_a_gpts(client_for("user_a")).eq("description", WRITER_DESCRIPTION).execute()
    assert names(rows.data) == ["Desk Writer"]


def test_negation_inside_a_tree_goes_after_the_column(
    catalog: World, client_for: ClientFor
) -> None:
    # PostgREST's grammar: `col.not.op.value`; `not.col.op.value` does not parse.
    query = team_a_gpts(client_for("user_a")).or_("not.usage_count.lt.18,name.eq.x")
    assert api_error(query.execute).code == "PGRST100"


def test_order_with_nulls(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    first = team_a_gpts(client).order("category", nullsfirst=True).order("name").limit(2)
    assert names(first.execute().data) == ["Team A private GPT", "Team A public GPT"]
    last = team_a_gpts(client).order("category", desc=True, nullsfirst=False).limit(1)
    assert names(last.execute().data) == ["Desk Writer"]
    # Descending puts nulls first unless told otherwise, as in PostgreSQL.
    described = team_a_gpts(client).order("description", desc=True).limit(1)
    assert names(described.execute().data) == ["Sales Coach"]


def test_not_or(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .not_.or_("category.eq.misc,usage_count.lt.25")
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == [
        "Code Bot",
        "Desk Helper",
        "Desk Writer",
        "Legal Reviewer",
        "Sales Coach",
    ]


def test_or_on_an_embedded_resource(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("chat_sessions")
        .select("title, chat_messages(sender)")
        .eq("id", SESSION_A)
        .or_("sender.eq.gpt,tokens_used.gt.100", reference_table="chat_messages")
        .execute()
        .data
    )
    assert rows == [{"title": "User A asks the team GPT", "chat_messages": [{"sender": "gpt"}]}]


def test_match(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("gpts")
        .select("name")
        .match({"team_id": TEAM_A, "category": "writing", "status": "active"})
        .execute()
        .data
    )
    assert names(rows) == ["Desk Writer"]


def test_array_contains(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    email = team_a_gpts(client).contains("tags", ["email"]).order("name").execute()
    assert names(email.data) == ["Desk Helper", "Desk Writer"]
    both = team_a_gpts(client).contains("tags", ["email", "customer care"]).execute()
    assert names(both.data) == ["Desk Helper"]


def test_array_contained_by(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .contained_by("tags", ["code", "legal", "writing", "email"])
        .neq("category", "misc")
        .order("name")
        .execute()
        .data
    )
    # An empty array (Sales Coach's) is contained by every array.
    assert names(rows) == ["Code Bot", "Desk Writer", "Legal Reviewer", "Sales Coach"]


def test_array_overlaps(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .overlaps("tags", ["code", "legal", "nothing"])
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Code Bot", "Legal Reviewer"]


def test_jsonb_contains(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    rows = team_a_gpts(client).contains("settings", {"model": "gpt-4o"}).order("name").execute()
    assert names(rows.data) == ["Code Bot", "Desk Helper"]
    nested = team_a_gpts(client).contains("settings", {"voice": {"tone": "formal"}}).execute()
    assert names(nested.data) == ["Desk Helper"]
    within = (
        team_a_gpts(client)
        .contained_by("settings", {"model": "gpt-4", "extra": 1})
        .in_("id", [DESK_WRITER, DESK_HELPER, SALES_COACH])
        .order("name")
        .execute()
    )
    assert names(within.data) == ["Desk Writer", "Sales Coach"]


def test_filter_on_a_column_not_selected(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("gpts")
        .select("id")
        .eq("name", "Code Bot")
        .eq("team_id", TEAM_A)
        .execute()
        .data
    )
    assert rows == [{"id": CODE_BOT}]


def test_bad_value_for_the_column_type(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    error = api_error(client.table("gpts").select("id").eq("id", "abc").execute)
    assert error.code == "22P02"
    assert error.message == 'invalid input syntax for type uuid: "abc"'
    enum = api_error(client.table("gpts").select("id").eq("status", "bogus").execute)
    assert enum.code == "22P02"
    assert "gpt_status" in (enum.message or "")
    number = api_error(client.table("gpts").select("id").gt("usage_count", "many").execute)
    assert number.code == "22P02"


def test_head_error_code_comes_from_proxy_status(catalog: World, client_for: ClientFor) -> None:
    query = (
        client_for("user_a")
        .table("gpts")
        .select("id", count=CountMethod.exact, head=True)
        .eq("id", "abc")
    )
    assert api_error(query.execute).code == "22P02"


def test_bad_value_status_is_400(catalog: World, rest: httpx.Client) -> None:
    answer = rest.get(
        "/gpts", params={"select": "id", "id": "eq.abc"}, headers=catalog.headers("user_a")
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "code": "22P02",
        "details": None,
        "hint": None,
        "message": 'invalid input syntax for type uuid: "abc"',
    }
