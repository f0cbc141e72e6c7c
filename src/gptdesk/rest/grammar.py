"""PostgREST's URL grammar: `select=`, filters, `or=`/`and=` trees and `order=`, parsed to AST.

Pure functions of strings; every malformed input raises GrammarError (PGRST100), never
anything else. Identifiers are only parsed here — the planner checks them against the
schema cache before any SQL is built.
"""

from gptdesk.rest.ast import (
    FULL_TEXT,
    IS_VALUES,
    OPERATORS,
    QUANTIFIABLE,
    Field,
    Filter,
    JsonStep,
    Logic,
    Operation,
    OrderTerm,
    SelectEmbed,
    SelectField,
    SelectItem,
    SelectStar,
)

MAX_DEPTH = 16  # nesting of embeds and logic trees; deeper is refused, not recursed into
MAX_NAME = 63  # PostgreSQL's identifier length


class GrammarError(Exception):
    """A query parameter that does not parse: PostgREST's PGRST100, HTTP 400."""

    code = "PGRST100"

    def __init__(self, parameter: str, value: str, details: str) -> None:
        super().__init__(f"failed to parse {parameter} parameter ({value})")
        self.message = str(self)
        self.details = details


def split_top(text: str, parameter: str, separator: str = ",") -> list[str]:
    """Split on `separator` outside parentheses and double quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if quoted and char == "\\":
            current.append(char)
            escaped = True
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                raise GrammarError(parameter, text, 'unexpected ")"')
        if char == separator and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise GrammarError(parameter, text, "unterminated double quote")
    if depth:
        raise GrammarError(parameter, text, 'expecting ")"')
    parts.append("".join(current))
    return parts


def unquote(text: str, parameter: str, whole: str) -> str:
    """A name or value without its double quotes and backslash escapes."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        body = text[1:-1]
        out: list[str] = []
        escaped = False
        for char in body:
            if escaped:
                out.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            else:
                out.append(char)
        return "".join(out)
    if '"' in text:
        raise GrammarError(parameter, whole, f"unexpected double quote in {text!r}")
    return text


def parse_name(text: str, parameter: str, whole: str) -> str:
    """An identifier (bare or double-quoted)."""
    name = unquote(text.strip(), parameter, whole)
    if not name or len(name) > MAX_NAME or "\x00" in name:
        raise GrammarError(parameter, whole, f"invalid identifier {text!r}")
    if not text.strip().startswith('"') and any(c in name for c in "()!:,.*"):
        raise GrammarError(parameter, whole, f"invalid identifier {text!r}")
    return name


def parse_field(text: str, parameter: str, whole: str) -> Field:
    """`column`, `column->key`, `column->>key`, `column->0->>key`."""
    text = text.strip()
    arrow = text.find("->")
    if arrow < 0:
        return Field(parse_name(text, parameter, whole))
    name = parse_name(text[:arrow], parameter, whole)
    steps: list[JsonStep] = []
    rest = text[arrow:]
    while rest:
        as_text = rest.startswith("->>")
        if not rest.startswith("->"):
            raise GrammarError(parameter, whole, f"invalid JSON path in {text!r}")
        rest = rest[3 if as_text else 2 :]
        nxt = rest.find("->")
        key, rest = (rest, "") if nxt < 0 else (rest[:nxt], rest[nxt:])
        key = unquote(key, parameter, whole)
        if not key:
            raise GrammarError(parameter, whole, f"empty key in JSON path {text!r}")
        steps.append(JsonStep(key, as_text))
    return Field(name, tuple(steps))


def parse_select(text: str, depth: int = 0) -> tuple[SelectItem, ...]:
    """The `select=` parameter (an empty one means `*`)."""
    if depth > MAX_DEPTH:
        raise GrammarError("select", text, "embedding nested too deeply")
    if not text.strip():
        return (SelectStar(),)
    return tuple(_select_item(part.strip(), text, depth) for part in split_top(text, "select"))


def _select_item(item: str, whole: str, depth: int) -> SelectItem:
    if not item:
        raise GrammarError("select", whole, 'unexpected ","')
    if item == "*":
        return SelectStar()
    spread = item.startswith("...")
    if spread:
        item = item[3:]
    alias = None
    head = item.split("(", 1)[0]
    if ":" in head.replace("::", "\x00"):
        colon = head.replace("::", "\x00\x00").index(":")
        alias = parse_name(item[:colon], "select", whole)
        item = item[colon + 1 :]
    if item.endswith(")") and "(" in item:
        opening = item.index("(")
        inner = item[opening + 1 : -1]
        name, *modifiers = item[:opening].split("!")
        if name.endswith(".count") or name == "count" or ("." in name and not name.startswith('"')):
            raise GrammarError("select", whole, "aggregate functions are not allowed")
        hint, join = None, "left"
        for modifier in modifiers:
            if modifier in ("inner", "left"):
                join = modifier
            elif hint is None and modifier:
                hint = parse_name(modifier, "select", whole)
            else:
                raise GrammarError("select", whole, f"unexpected !{modifier}")
        children = parse_select(inner, depth + 1) if inner.strip() else (SelectStar(),)
        return SelectEmbed(
            parse_name(name, "select", whole),
            children,
            alias,
            hint,
            join,
            spread,  # type: ignore[arg-type]
        )
    if spread:
        raise GrammarError("select", whole, "a spread (...) needs an embedded resource")
    cast = None
    if "::" in item:
        item, cast = item.rsplit("::", 1)
        if not cast.replace("_", "").replace(" ", "").isalnum():
            raise GrammarError("select", whole, f"invalid cast {cast!r}")
    return SelectField(parse_field(item, "select", whole), alias, cast)


def parse_operation(text: str, parameter: str, *, in_tree: bool = False) -> Operation:
    """`[not.]op[(any|all)][(config)].value`; inside an or/and tree a value may be quoted."""
    negated = text.startswith("not.")
    body = text[4:] if negated else text
    op_part, dot, value = body.partition(".")
    if not dot:
        raise GrammarError(parameter, text, "expecting operator.value")
    operator, quantifier, config = op_part, None, None
    if "(" in op_part and op_part.endswith(")"):
        operator, argument = op_part[:-1].split("(", 1)
        if argument in ("any", "all") and operator in QUANTIFIABLE:
            quantifier = argument
        elif operator in FULL_TEXT and argument:
            config = parse_name(argument, parameter, text)
        else:
            raise GrammarError(parameter, text, f"unexpected ({argument})")
    if operator not in OPERATORS:
        raise GrammarError(parameter, text, f"unknown operator {operator!r}")
    if operator == "in" or quantifier:
        values = parse_list(value, parameter, text)
        if operator in ("like", "ilike"):
            values = tuple(v.replace("*", "%") for v in values)
        return Operation(operator, values, negated, quantifier)
    if in_tree:
        value = unquote(value, parameter, text)
    if operator == "is" and value not in IS_VALUES:
        raise GrammarError(parameter, text, "is accepts null, not_null, true, false, unknown")
    if operator in ("like", "ilike"):
        value = value.replace("*", "%")
    return Operation(operator, value, negated, None, config)


def parse_list(text: str, parameter: str, whole: str) -> tuple[str, ...]:
    """`(a,b,"c,d")` or `{a,b}` as the values of `in` and quantified operators."""
    if len(text) < 2 or (text[0], text[-1]) not in (("(", ")"), ("{", "}")):
        raise GrammarError(parameter, whole, "expecting a list (a,b) or {a,b}")
    inner = text[1:-1]
    if not inner:
        return ()
    return tuple(unquote(v.strip(), parameter, whole) for v in split_top(inner, parameter))


def parse_filter(key: str, value: str) -> Filter:
    """`rel.column->path=operation` (the embed path before the last dot outside a JSON path)."""
    arrow = key.find("->")
    head, tail = (key, "") if arrow < 0 else (key[:arrow], key[arrow:])
    *embed, column = head.split(".")
    embed_path = tuple(parse_name(part, key, key) for part in embed)
    return Filter(parse_field(column + tail, key, key), parse_operation(value, key), embed_path)


def parse_logic(key: str, value: str, depth: int = 0) -> Logic:
    """`[rel.][not.]or=(…)` / `and=(…)` with nested `and(…)`, `or(…)`, `col.op.value`."""
    *embed, operator = key.split(".")
    negated = bool(embed) and embed[-1] == "not"
    if negated:
        embed = embed[:-1]
    if operator not in ("and", "or"):
        raise GrammarError(key, value, "expecting and or or")
    if not (value.startswith("(") and value.endswith(")")):
        raise GrammarError(key, value, "expecting (…)")
    children = _logic_children(value[1:-1], key, value, depth)
    embed_path = tuple(parse_name(part, key, key) for part in embed)
    return Logic(operator, children, negated, embed_path)  # type: ignore[arg-type]


def _logic_children(inner: str, key: str, whole: str, depth: int) -> tuple[Filter | Logic, ...]:
    if depth > MAX_DEPTH:
        raise GrammarError(key, whole, "logic tree nested too deeply")
    children: list[Filter | Logic] = []
    for part in split_top(inner, key):
        part = part.strip()
        if not part:
            raise GrammarError(key, whole, 'unexpected ","')
        negated = part.startswith("not.")
        body = part[4:] if negated else part
        for operator in ("and", "or"):
            if body.startswith(f"{operator}(") and body.endswith(")"):
                nested = _logic_children(body[len(operator) + 1 : -1], key, whole, depth + 1)
                children.append(Logic(operator, nested, negated))  # type: ignore[arg-type]
                break
        else:
            column, dot, operation = part.partition(".")
            if not dot:
                raise GrammarError(key, whole, f"expecting column.operator.value in {part!r}")
            children.append(
                Filter(
                    parse_field(column, key, whole), parse_operation(operation, key, in_tree=True)
                )
            )
    return tuple(children)


def parse_order(text: str) -> tuple[OrderTerm, ...]:
    """`order=col.desc.nullslast,rel(col).asc,json->>k.desc`."""
    terms: list[OrderTerm] = []
    for part in split_top(text, "order"):
        part = part.strip()
        if not part:
            raise GrammarError("order", text, 'unexpected ","')
        relation = None
        if "(" in part:
            relation_name, _, rest = part.partition("(")
            column, closing, modifiers = rest.partition(")")
            if not closing:
                raise GrammarError("order", text, 'expecting ")"')
            relation = parse_name(relation_name, "order", text)
            pieces = [column, *[m for m in modifiers.split(".") if m]]
        else:
            pieces = part.split(".")
        field = parse_field(pieces[0], "order", text)
        descending, nulls_first = False, None
        for modifier in pieces[1:]:
            if modifier in ("asc", "desc"):
                descending = modifier == "desc"
            elif modifier in ("nullsfirst", "nullslast"):
                nulls_first = modifier == "nullsfirst"
            else:
                raise GrammarError("order", text, f"unexpected .{modifier}")
        terms.append(OrderTerm(field, descending, nulls_first, relation))
    return tuple(terms)
