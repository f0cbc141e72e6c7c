"""Which foreign key an embed such as `owner:users!creator_id(…)` follows, as PostgREST finds it.

Pure: the schema cache's foreign keys, the parent table and the embed's name and hint in;
one relationship out, or PGRST200 (none) / PGRST201 (ambiguous).
"""

from dataclasses import dataclass

from gptdesk.rest.errors import RestError
from gptdesk.rest.schema_cache import ForeignKey, SchemaCache


@dataclass(frozen=True)
class Junction:
    """The table a many-to-many goes through, and how it joins each side."""

    table: str
    parent_fk: ForeignKey  # junction → parent
    target_fk: ForeignKey  # junction → target

    @property
    def parent_pairs(self) -> tuple[tuple[str, str], ...]:
        """(parent column, junction column) pairs."""
        return _inward(self.parent_fk)

    @property
    def target_pairs(self) -> tuple[tuple[str, str], ...]:
        """(target column, junction column) pairs."""
        return _inward(self.target_fk)


@dataclass(frozen=True)
class Relationship:
    """How rows of `target` join a parent row: `pairs` of (parent column, target column),
    or through a `junction` table."""

    target: str
    fk: ForeignKey
    pairs: tuple[tuple[str, str], ...]
    to_one: bool
    junction: Junction | None = None

    @property
    def cardinality(self) -> str:
        if self.junction is not None:
            return "many-to-many"
        if self.fk.table == self.target:
            return "one-to-one" if self.to_one else "one-to-many"
        return "many-to-one"

    @property
    def hint(self) -> str:
        """The `!hint` naming this relationship: the junction table or the key."""
        return self.junction.table if self.junction is not None else self.fk.name


def _outward(fk: ForeignKey) -> tuple[tuple[str, str], ...]:
    return tuple(zip(fk.columns, fk.foreign_columns, strict=True))


def _inward(fk: ForeignKey) -> tuple[tuple[str, str], ...]:
    return tuple(zip(fk.foreign_columns, fk.columns, strict=True))


def _junctions(cache: SchemaCache, parent: str, target: str) -> list[Relationship]:
    """Many-to-many: tables whose primary key holds a foreign key to each side."""
    found: list[Relationship] = []
    for table in cache.tables.values():
        key = set(table.primary_key)
        outgoing = [
            fk for fk in cache.foreign_keys if fk.table == table.name and set(fk.columns) <= key
        ]
        for to_parent in (fk for fk in outgoing if fk.foreign_table == parent):
            for to_target in (fk for fk in outgoing if fk.foreign_table == target):
                if to_parent is not to_target:
                    junction = Junction(table.name, to_parent, to_target)
                    found.append(Relationship(target, to_target, (), False, junction))
    return found


def _candidates(cache: SchemaCache, parent: str, target: str) -> list[Relationship]:
    found: list[Relationship] = []
    for fk in cache.foreign_keys:
        if fk.table == parent and fk.foreign_table == target:
            found.append(Relationship(target, fk, _outward(fk), True))
        if fk.table == target and fk.foreign_table == parent:
            unique = cache.tables[target].primary_key == fk.columns
            found.append(Relationship(target, fk, _inward(fk), unique))
    return found + _junctions(cache, parent, target)


def _by_key(cache: SchemaCache, parent: str, name: str) -> list[Relationship]:
    """`creator_id(*)` or `gpts_creator_id_fkey(*)`: the many-to-one a column or key names."""
    return [
        Relationship(fk.foreign_table, fk, _outward(fk), True)
        for fk in cache.foreign_keys
        if fk.table == parent and (fk.name == name or fk.columns == (name,))
    ]


def _matches(relationship: Relationship, hint: str) -> bool:
    if relationship.junction is not None:
        junction = relationship.junction
        return hint in (junction.table, junction.parent_fk.name, junction.target_fk.name)
    fk = relationship.fk
    return hint == fk.name or hint in fk.columns or hint in fk.foreign_columns


def _describe(relationship: Relationship, parent: str) -> dict[str, str]:
    fk = relationship.fk
    if relationship.junction is not None:
        junction = relationship.junction
        return {
            "cardinality": "many-to-many",
            "embedding": f"{parent} with {relationship.target}",
            "relationship": f"{junction.table} using {junction.parent_fk.name}"
            f"({', '.join(junction.parent_fk.columns)}) and {junction.target_fk.name}"
            f"({', '.join(junction.target_fk.columns)})",
        }
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
            + ", ".join(f"'{name}!{r.hint}'" for r in found)
            + ". Find the desired relationship in the 'details' key.",
        )
    return found[0]
