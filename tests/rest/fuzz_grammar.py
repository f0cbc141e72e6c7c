"""The fuzz's grammar of /rest/v1 query strings, over the names the schema cache knows.

`Vocabulary` is what the cache knows (tables, columns, relationships, functions, types,
text search configurations); the strategies build `select=`, filters, logic trees, `order=`
and paging from PostgREST's grammar over it. For a "junk" request any piece may also hold
odd names, characters and values.
"""

from dataclasses import dataclass

from hypothesis import strategies as st

from gptdesk.rest.ast import OPERATORS, QUANTIFIABLE
from gptdesk.rest.schema_cache import SchemaCache
from tests.rest.snapshots import IDS

NOWHERE = "00000000-0000-4000-8000-00000000dead"  # an id no row has

SPECIAL = st.sampled_from(
    ['"', "'", "(", ")", ",", ".", ":", "::", "->", "->>", "!", "*", "\\", "\x00", "%", "&",
     "=", ";", "--", "/*", "$1", "{", "}", "[", "]", " ", "\t", "\n", "é", "😀", "\u202e",
     "\ufeff", "ß", "İ", "not.", "or(", "and(", "eq.", "in.(", "null", "select", "drop table"]
)  # fmt: skip
JUNK = st.one_of(
    st.text(max_size=12),
    st.lists(SPECIAL, min_size=1, max_size=6).map("".join),
    st.sampled_from([1000, 9000]).map(lambda n: "x" * n),
)
IDENT = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
CASTS = st.sampled_from(
    ["text", "int", "integer", "int4", "bigint", "smallint", "numeric", "decimal", "real",
     "double precision", "float", "json", "jsonb", "uuid", "boolean", "bool", "date",
     "timestamptz", "timestamp", "interval", "inet", "bytea", "tsvector", "tsquery", "money",
     "character varying", "char", "varchar", "user_role", "gpt_status", "void", "record",
     "anyelement", "cstring", "no_such_type", "TEXT"]
)  # fmt: skip
GOOD_VALUES = st.one_of(
    st.sampled_from(
        [*IDS.values(), NOWHERE, "null", "true", "false", "0", "-1", "1.5", "2024-01-01",
         "2024-01-01T00:00:00Z", "infinity", "{}", "[]", '{"a":1}', "[1,2]", "{a,b}", "a*",
         "*GPT*", "gpt-4", "Team A public GPT", "active", "user", "admin", "a & b", "team"]
    ),
    st.integers(-(10**6), 10**6).map(str),
    IDENT,
)  # fmt: skip
ODD_VALUES = st.one_of(
    st.sampled_from(
        ["unknown", "not_null", "-infinity", "NaN", "1e400", "99999999999999999999", "2024-13-45",
         "(a,b)", '"q"', "a & & b", "'", "%", "\\", "(", "{", "\x00"]
    ),
    st.integers().map(str),
    JUNK,
)  # fmt: skip
IS_VALUES = st.sampled_from(["null", "not_null", "true", "false", "unknown"])
TEXT_SEARCH = ("fts", "plfts", "phfts", "wfts")


def quoted(name: str) -> str:
    """A double-quoted identifier, with PostgREST's backslash escapes."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Vocabulary:
    """The names the fuzz may use, from the schema cache."""

    tables: list[str]
    columns: dict[str, list[str]]
    json_columns: dict[str, list[str]]
    all_columns: list[str]
    related: dict[str, list[str]]  # the tables each table can embed
    hints: dict[tuple[str, str], list[str]]  # (table, embedded): what `!hint` may name
    relations: list[str]
    functions: dict[str, list[str]]  # the argument names of each function's overloads
    types: frozenset[str]  # what a `::cast` may name
    configs: frozenset[str]  # text search configurations


def vocabulary(cache: SchemaCache) -> Vocabulary:
    columns = {name: list(table.columns) for name, table in cache.tables.items()}
    json_columns = {
        name: [c.name for c in table.columns.values() if c.type_name in ("json", "jsonb")]
        for name, table in cache.tables.items()
    }
    related: dict[str, set[str]] = {name: set() for name in cache.tables}
    hints: dict[tuple[str, str], set[str]] = {}
    for fk in cache.foreign_keys:
        related[fk.table].add(fk.foreign_table)
        related[fk.foreign_table].add(fk.table)
        for pair in ((fk.table, fk.foreign_table), (fk.foreign_table, fk.table)):
            hints.setdefault(pair, set()).update({fk.name, *fk.columns})
    functions = {
        name: [arg for function in overloads for arg in function.arg_names if arg]
        for name, overloads in cache.functions.items()
    }
    return Vocabulary(
        sorted(cache.tables),
        columns,
        json_columns,
        sorted({column for names in columns.values() for column in names}),
        {name: sorted(found) for name, found in related.items()},
        {pair: sorted(found) for pair, found in hints.items()},
        sorted({*cache.tables, *(h for found in hints.values() for h in found)}),
        functions,
        frozenset(cache.types),
        cache.text_search_configs,
    )


def word(words: list[str], junk: bool) -> st.SearchStrategy[str]:
    """One of `words`; in a junk request, sometimes anything at all, bare or quoted."""
    known = st.sampled_from(words)
    if not junk:
        return st.one_of(known, known.map(quoted)) if words else IDENT
    odd = st.one_of(IDENT, JUNK)
    return st.one_of(known, odd, st.one_of(known, odd).map(quoted))


@st.composite
def fields(draw: st.DrawFn, v: Vocabulary, table: str, junk: bool) -> str:
    """`col`, or for a json column (any column, in junk) `col->key->>key`."""
    column = draw(word(v.columns[table], junk))
    json = junk or column in v.json_columns[table]
    steps = draw(st.integers(0, 3 if json else 0))
    for _ in range(steps):
        key = draw(st.one_of(IDENT, st.integers(-2, 5).map(str), *([JUNK] if junk else [])))
        column += draw(st.sampled_from(["->", "->>"])) + key
    return column


@st.composite
def select_lists(
    draw: st.DrawFn,
    v: Vocabulary,
    table: str,
    junk: bool,
    depth: int = 0,
    embeds: list[str] | None = None,
) -> str:
    """`select=`: stars, fields, aliases, casts and embeds (aliased, hinted, inner, spread).

    `embeds` collects the names the top level's embeds go by (for their filters and order).
    """
    items = []
    kinds = ["*", "field", "field", "alias", "cast", "embed", "embed"] + (["junk"] if junk else [])
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=4)):
        if kind == "embed" and depth < 3:
            targets = v.related[table] or v.tables
            target = draw(st.sampled_from(targets) if not junk else word(v.relations, True))
            child = target if target in v.columns else table
            hints = v.hints.get((table, child)) or ["no_such_key"]
            modifier = draw(
                st.sampled_from(["", "", "!inner", "!left"])
                | st.sampled_from(hints).map(lambda hint: "!" + hint)
            )
            prefix = draw(st.sampled_from(["", "", "", "other:", "..."]))
            inner = draw(select_lists(v, child, junk, depth + 1))
            items.append(f"{prefix}{target}{modifier}({inner})")
            if embeds is not None and target in v.columns and prefix != "...":
                embeds.append("other" if prefix else target)
        elif kind == "*":
            items.append("*")
        elif kind == "junk":
            items.append(draw(JUNK))
        else:
            item = draw(fields(v, table, junk))
            if kind == "alias":
                item = draw(IDENT) + ":" + item
            if kind == "cast":
                item += "::" + draw(CASTS)
            items.append(item)
    return ",".join(items)


@st.composite
def operations(draw: st.DrawFn, junk: bool) -> str:
    """`[not.]op[(any|all)|(config)].value` with a value that fits the operator's shape."""
    values = st.one_of(GOOD_VALUES, ODD_VALUES) if junk else GOOD_VALUES
    operator = draw(st.sampled_from(sorted(OPERATORS)) | (IDENT if junk else st.nothing()))
    negated = draw(st.sampled_from(["", "", "not."]))
    items = st.lists(values, max_size=3).map(",".join)
    if operator == "in":
        value = draw(items.map(lambda inner: f"({inner})"))
    elif operator == "is":
        value = draw(IS_VALUES | (values if junk else st.nothing()))
    elif operator in QUANTIFIABLE and draw(st.booleans()):
        operator += draw(st.sampled_from(["(any)", "(all)"]))
        value = draw(items.map(lambda inner: "{" + inner + "}"))
    elif operator in TEXT_SEARCH and draw(st.booleans()):
        operator += draw(st.sampled_from(["(english)", "(simple)", "(no_such_config)"]))
        value = draw(values)
    else:
        value = draw(values)
    if junk and draw(st.integers(0, 4)) == 4:
        value = draw(JUNK)
    return f"{negated}{operator}.{value}"


@st.composite
def logic_trees(draw: st.DrawFn, v: Vocabulary, table: str, junk: bool, depth: int = 0) -> str:
    """The inside of `or=(…)`: `col.op.value` conditions and nested `and(…)`, `not.or(…)`."""
    children = []
    for _ in range(draw(st.integers(1 if not junk else 0, 3))):
        if depth < 3 and draw(st.integers(0, 3)) == 3:
            operator = draw(st.sampled_from(["and", "or", "not.and", "not.or"]))
            children.append(f"{operator}({draw(logic_trees(v, table, junk, depth + 1))})")
        elif junk and draw(st.integers(0, 3)) == 3:
            children.append(draw(JUNK))
        else:
            children.append(f"{draw(fields(v, table, junk))}.{draw(operations(junk))}")
    return ",".join(children)


@st.composite
def orders(draw: st.DrawFn, v: Vocabulary, table: str, junk: bool) -> str:
    """`order=col.desc.nullslast,rel(col).asc`."""
    terms = []
    for _ in range(draw(st.integers(1, 3))):
        direction = draw(st.sampled_from(["", ".asc", ".desc", ".nullsfirst", ".desc.nullslast"]))
        if v.related[table] and draw(st.integers(0, 3)) == 3:
            other = draw(st.sampled_from(v.related[table]))
            terms.append(f"{other}({draw(fields(v, other, junk))}){direction}")
        else:
            terms.append(draw(fields(v, table, junk)) + direction)
        if junk and draw(st.integers(0, 3)) == 3:
            terms[-1] = draw(JUNK)
    return ",".join(terms)


@st.composite
def parameters(
    draw: st.DrawFn, v: Vocabulary, table: str, junk: bool, reading: bool
) -> list[tuple[str, str]]:
    """Query parameters for `table`: select, filters, logic, order, paging (and junk)."""
    numbers = st.integers(0, 50).map(str)
    if junk:
        numbers = numbers | st.sampled_from(["-1", "", "1.5", "0x10", "99999999999999999999"])
    found: list[tuple[str, str]] = []
    embeds: list[str] = []  # the names the select's top-level embeds go by
    if draw(st.integers(0, 3)) > 0:
        found.append(("select", draw(select_lists(v, table, junk, embeds=embeds))))
    kinds = ["filter", "filter", "filter", "logic", "order"]
    kinds += ["page"] if reading or junk else []
    kinds += ["embedded"] * 2 if (reading and embeds) or junk else []
    kinds += ["select", "junk"] if junk else []
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=4)):
        if kind == "select":
            found.append(("select", draw(select_lists(v, table, junk))))
        elif kind == "filter":
            found.append((draw(fields(v, table, junk)), draw(operations(junk))))
        elif kind == "logic":
            key = draw(st.sampled_from(["or", "and", "not.or", "not.and"]))
            found.append((key, f"({draw(logic_trees(v, table, junk))})"))
        elif kind == "order":
            found.append(("order", draw(orders(v, table, junk))))
        elif kind == "page":
            found.append((draw(st.sampled_from(["limit", "offset"])), draw(numbers)))
        elif kind == "embedded":  # a filter, order or page of an embed
            name = draw(st.sampled_from(embeds or v.related[table] or [table]))
            other = name if name in v.columns else draw(st.sampled_from(v.tables))
            suffix = draw(st.sampled_from(["filter", "filter", "or", "order", "limit", "offset"]))
            if suffix == "filter":
                found.append((f"{name}.{draw(fields(v, other, junk))}", draw(operations(junk))))
            elif suffix == "or":
                found.append((f"{name}.or", f"({draw(logic_trees(v, other, junk))})"))
            elif suffix == "order":
                found.append((f"{name}.order", draw(orders(v, other, junk))))
            else:
                found.append((f"{name}.{suffix}", draw(numbers)))
        else:
            found.append((draw(JUNK), draw(JUNK)))
    return found
