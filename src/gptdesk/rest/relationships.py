"""Which foreign key an embed such as `owner:users!creator_id(…)` follows, as PostgREST finds it.

Pure: the schema cache's foreign keys, the parent table and the embed's name and hint in;
one relationship out, or PGRST200 (none) / PGRST201 (ambiguous).
"""

from dataclasses import dataclass

from gptdesk.rest.errors import RestError
from gptdesk.rest.schema_cache import ForeignKey, SchemaCache


@dataclass(frozen=True)
class Relationship:
    """How rows of `target` join a parent row: `pairs` of (parent column, target column)."""

    target: str
    fk: ForeignKey
    pairs: tuple[tuple[str, str], ...]
    to_one: bool

    @property
    def cardinality(self) -> str:
        if self.fk.table == self.target:
            return "one-to-one" if self.to_one else "one-to-many"
        return "many-to-one"


def _outward(fk: ForeignKey) -> tuple[tuple[str, str], ...]:
    return tuple(zip(fk.columns, fk.foreign_columns, strict=True))


def _inward(fk: ForeignKey) -> tuple[tuple[str, str], ...]:
    return tuple(zip(fk.foreign_columns, fk.columns, strict=True))


def _candidates(cache: SchemaCache, parent: str, target: str) -> list[Relationship]:
    found: list[Relationship] = []
    for fk in cache.foreign_keys:
        if fk.table == parent and fk.foreign_table == target:
            found.append(
                Relationship(
                    target, fk, tuple(zip(fk.columns, fk.foreign_columns, strict=True)), True
                )
            )
        if fk.table == target and fk.foreign_table == parent:
            unique = cache.tables[target].primary_key == fk.columns
            found.append(
                Relationship(
                    target, fk, tuple(zip(fk.foreign_columns, fk.columns, strict=True)), unique
                )
            )
    return found


def _by_key(cache: SchemaCache, parent: str, name: str) -> list[Relationship]:
    """`creator_id(*)` or `gpts_creator_id_fkey(*)`: the many-to-one a column or key names."""
    return [
        Relationship(
            fk.foreign_table, fk, tuple(zip(fk.columns, fk.foreign_columns, strict=True)), True
        )
        for fk in cache.foreign_keys
        if fk.table == parent and (fk.name == name or fk.columns == (name,))
    ]


def _matches(relationship: Relationship, hint: str) -> bool:
    fk = relationship.fk
    return hint == fk.name or hint in fk.columns or hint in fk.foreign_columns


def _describe(relationship: Relationship, parent: str) -> dict[str, str]:
    fk = relationship.fk
    return {
        "cardinality": relationship.cardinality,
        "embedding": f"{parent} with {relationship.target}",
        "relationship": f"{fk.name} using {fk.table}({', '.join(fk.columns)}) and "
        f"{fk.foreign_table}({', '.join(fk.foreign_columns)})",
    }


def find_relationship(cache: SchemaCache, parent: str, name: str, hint: str | None) -> Relationship:
    """The one relationship `parent` → `name` (a table, FK column or FK name) `!hint` means."""
    if name in cache.tables:
        found = _candidates(cache, parent, name)
    else:
        found = _by_key(cache, parent, name)
    if hint is not None:
        found = [r for r in found if _matches(r, hint)]
    if not found:
        target = f"{name}!{hint}" if hint else name
        raise RestError(
            400,
            "PGRST200",
            f"Could not find a relationship between '{parent}' and '{name}' in the schema cache",
            f"Searched for a foreign key relationship between '{parent}' and '{target}' in the "
            f"schema '{cache.schema}', but no matches were found.",
        )
    if len(found) > 1:
        raise RestError(
            300,
            "PGRST201",
            f"Could not embed because more than one relationship was found for '{parent}' "
            f"and '{name}'",
            [_describe(r, parent) for r in found],  # type: ignore[arg-type]
            f"Try changing '{name}' to one of the following: "
            + ", ".join(f"'{name}!{r.fk.name}'" for r in found)
            + ". Find the desired relationship in the 'details' key.",
        )
    return found[0]
