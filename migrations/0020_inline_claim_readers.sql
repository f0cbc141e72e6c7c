-- 0020_inline_claim_readers: the claim readers (auth.uid(), auth.role(), auth.email(),
-- auth.jwt()) written so that PostgreSQL inlines them into the queries that call them.
--
-- As 0002 wrote them (with `set search_path = ''` and a sub-select), PostgreSQL could not
-- inline them: every call was a function call planned anew, about 12 µs each on this
-- machine, and a chat turn makes ~58 of them (RLS checks, triggers, the gateway's
-- functions). Inlined, a call is an expression on the query's own plan. The bodies name
-- every function and operator with its pg_catalog schema, so no search_path can change
-- what they do; they read only the request's own `request.jwt.claims` setting.
set local lock_timeout = '5s';

create or replace function auth.jwt()
returns jsonb
language sql
stable
as $$
  select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb
$$;

create or replace function auth.uid()
returns uuid
language sql
stable
as $$
  select nullif(
           nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb
             operator(pg_catalog.->>) 'sub',
           '')::uuid
$$;

create or replace function auth.role()
returns text
language sql
stable
as $$
  select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb
           operator(pg_catalog.->>) 'role'
$$;

create or replace function auth.email()
returns text
language sql
stable
as $$
  select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb
           operator(pg_catalog.->>) 'email'
$$;
