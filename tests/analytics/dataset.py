"""A crew's seeded usage: GPTs for both teams (one public each) and random rows of everyone,
each using their team's GPTs, the other team's public one, or none."""

import random
from collections.abc import Sequence
from datetime import date

import asyncpg

from tests.analytics.crew import ACTORS, Crew, Gpt, add_gpt
from tests.analytics.usage import Person, Use, generate, insert


def people(crew: Crew, public: Sequence[Gpt]) -> list[Person]:
    """Each crew member with the GPTs they use."""
    found = []
    for actor, user in crew.users.items():
        team = ACTORS[actor][1]
        own = crew.gpts_of(team) if team else []
        usable = {(g.id, g.model) for g in [*own, *public]}
        found.append(Person(user, crew.team_of(actor), sorted(usable)))
    return found


async def seed_usage(
    conn: asyncpg.Connection,
    crew: Crew,
    *,
    seed: int,
    n: int,
    first: date,
    days: int,
    models: Sequence[str],
    private: tuple[int, int] = (3, 2),
) -> list[Use]:
    """GPTs (a public one and `private` more, for teams x and y) and `n` rows over `days`
    days from `first`, written in statements of various sizes."""
    public = [
        await add_gpt(conn, crew, "x", models[0], public=True),
        await add_gpt(conn, crew, "y", models[1 % len(models)], public=True),
    ]
    for team, count in zip(("x", "y"), private, strict=True):
        for i in range(count):
            await add_gpt(conn, crew, team, models[i % len(models)])
    uses = generate(random.Random(seed), people(crew, public), models, first, days, n)
    await insert(conn, uses, sizes=(1, 1, 7, 1, 250, 3, 1))
    return uses
