-- 0001_roles: the database roles requests run as, Supabase-style, and their default grants.
--
--   anon           requests without a user token (NOLOGIN)
--   authenticated  requests with a user's token (NOLOGIN)
--   service_role   the server's trusted key (NOLOGIN, BYPASSRLS)
--   authenticator  the login role of the request pool (LOGIN NOINHERIT): it has no rights of
--                  its own and can only switch to the three roles above; the server sets its
--                  password at start.
--
-- Roles are cluster-wide and several databases may be migrated in one cluster at once, so
-- each creation tolerates the role existing already or being created concurrently.
-- Grants are per database and are (re)applied here and in 0005_rls.sql.
set local lock_timeout = '5s';

do $$
declare
  spec record;
begin
  for spec in
    select * from (values
      ('anon',          'nologin noinherit'),
      ('authenticated', 'nologin noinherit'),
      ('service_role',  'nologin noinherit bypassrls'),
      ('authenticator', 'login noinherit')
    ) as s(name, options)
  loop
    if not exists (select from pg_catalog.pg_roles where rolname = spec.name) then
      begin
        execute format('create role %I %s', spec.name, spec.options);
      exception when duplicate_object or unique_violation then
        null;  -- created meanwhile by a migration of another database
      end;
    end if;
  end loop;

  -- A role made elsewhere with other attributes would silently weaken or break the model:
  -- set the ones that matter (altering needs the rights creating them needed).
  if exists (select from pg_catalog.pg_roles where rolname = 'service_role' and not rolbypassrls) then
    alter role service_role bypassrls;
  end if;
  if exists (select from pg_catalog.pg_roles
             where rolname in ('anon', 'authenticated') and (rolcanlogin or rolbypassrls)) then
    alter role anon nologin nobypassrls;
    alter role authenticated nologin nobypassrls;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'authenticator' and rolinherit) then
    alter role authenticator noinherit;
  end if;
end
$$;

-- The pool logs in as authenticator and switches role per request (SET LOCAL ROLE).
do $$
declare
  member_of text;
begin
  foreach member_of in array array['anon', 'authenticated', 'service_role'] loop
    if not pg_catalog.pg_has_role('authenticator', member_of, 'member') then
      begin
        execute format('grant %I to authenticator', member_of);
      exception when duplicate_object or unique_violation then
        null;  -- granted meanwhile by a migration of another database
      end;
    end if;
  end loop;
end
$$;

-- Supabase's default grants: the API roles may use the public schema, and every table,
-- sequence and function created there later by this (migrating) role is granted to them.
-- Row-level security on every table is the real gate.
--
-- Unlike Supabase's blanket ALL, anon and authenticated get only the privileges RLS governs
-- (select, insert, update, delete): TRUNCATE, TRIGGER, REFERENCES (and MAINTAIN on 17+) are
-- not checked by row-level security, so granting them would bypass it.
grant usage on schema public to anon, authenticated, service_role;

alter default privileges in schema public
  grant select, insert, update, delete on tables to anon, authenticated;
alter default privileges in schema public
  grant all on tables to service_role;
alter default privileges in schema public
  grant usage, select on sequences to anon, authenticated, service_role;
-- Functions are not executable by PUBLIC (PostgreSQL's default) nor anon unless a migration
-- grants it: a function made for signed-in users must not be callable anonymously by accident.
alter default privileges in schema public
  revoke execute on functions from public;
alter default privileges in schema public
  grant execute on functions to authenticated, service_role;
