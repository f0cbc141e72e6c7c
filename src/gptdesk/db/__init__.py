"""Everything that talks to PostgreSQL: the embedded server, migrations, the pool, the scope."""
