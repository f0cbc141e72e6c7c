-- 0019_realtime: change capture for /realtime/v1 postgres_changes, and the check that
-- decides, per subscriber, which changes they may see.
--
-- Capture: a published table gets an AFTER trigger that sends each row change with
-- pg_notify on the channel `gptdesk_realtime`. PostgreSQL delivers notifications only when
-- the transaction commits, and in commit order, so a rolled-back change is never sent and
-- subscribers see changes in the order they happened. A notification holds at most 8000
-- bytes: a larger change is kept in realtime.large_changes and the notification carries
-- its id (the rows are purged after a few minutes). Measured against logical decoding
-- (wal2json is not in stock PostgreSQL; pgoutput needs a replication connection and a
-- slot that holds WAL while the server is down): triggers need nothing beyond SQL, work on
-- any PostgreSQL ≥ 15, and cost one notification per row change inside the writer's
-- transaction.
--
-- Which tables publish is configuration: realtime.publish('public.x') / unpublish, listed
-- in realtime.published_tables. The seed's chat_messages and gpts publish by default.
--
-- Authorization: realtime.visible_rows() takes a table, primary keys of changed rows and a
-- list of subscribers' claims, and answers which rows each claims may SELECT — switching
-- to each claims' role with its request.jwt.claims, as a request would, so the table's
-- own RLS policies decide; one call per batch of changes and distinct claims, not one
-- query per subscriber and change. (Supabase's WALRUS does the same switch in plpgsql.)
set local lock_timeout = '5s';

create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;

create table if not exists realtime.published_tables (
    relation regclass primary key,
    created_at timestamp with time zone not null default now()
);

create table if not exists realtime.large_changes (
    id bigint generated always as identity primary key,
    payload jsonb not null,
    created_at timestamp with time zone not null default now()
);

revoke all on realtime.published_tables, realtime.large_changes
  from public, anon, authenticated, service_role;

-- The change as subscribers receive it (schema, table, type, commit_timestamp, record,
-- old_record with the primary key only for DELETE on an RLS table, as Supabase sends);
-- `pk` names the row for the visibility check.
create or replace function realtime.publish_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  pk_columns text[];
  payload jsonb;
  text_payload text;
  stored bigint;
  row_data jsonb := case when tg_op = 'DELETE' then null else pg_catalog.to_jsonb(new) end;
  old_data jsonb := case when tg_op = 'INSERT' then null else pg_catalog.to_jsonb(old) end;
begin
  pk_columns := tg_argv;  -- the primary key's columns, given when the table was published
  if old_data is not null and pk_columns is not null then
    -- old values beyond the key: for UPDATE only the key as well (replica identity default)
    select pg_catalog.jsonb_object_agg(key, value) into old_data
      from pg_catalog.jsonb_each(old_data) where key = any(pk_columns);
  end if;
  payload := pg_catalog.jsonb_build_object(
    'schema', tg_table_schema,
    'table', tg_table_name,
    'type', tg_op,
    'commit_timestamp',
      pg_catalog.to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'pk', pg_catalog.to_jsonb(pk_columns),
    'record', row_data,
    'old_record', old_data,
    -- the whole deleted row, for the server's policy check only (never sent on)
    'full_old', case when tg_op = 'DELETE' then pg_catalog.to_jsonb(old) end);
  text_payload := payload::text;
  if pg_catalog.octet_length(text_payload) > 7900 then
    delete from realtime.large_changes c where c.created_at < now() - interval '10 minutes';
    insert into realtime.large_changes (payload) values (payload) returning id into stored;
    text_payload := pg_catalog.jsonb_build_object('large', stored)::text;
  end if;
  perform pg_catalog.pg_notify('gptdesk_realtime', text_payload);
  return null;
end
$$;

revoke execute on function realtime.publish_change() from public, anon, authenticated, service_role;

-- Publishes (or with unpublish, stops publishing) a table's changes.
create or replace function realtime.checker_name(relation regclass)
returns text
language sql
stable
set search_path = ''
as $$
  select 'visible_' || n.nspname || '_' || c.relname
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where c.oid = checker_name.relation
$$;

-- Publishes a table's changes: the capture trigger, and the table's visibility checker —
-- a function with the check as static SQL, so PL/pgSQL keeps its plan from one subscriber
-- to the next (for subscribers of one role it is planned once, not once per subscriber).
create or replace function realtime.publish(relation regclass)
returns void
language plpgsql
set search_path = ''
as $$
declare
  key_columns text;
  condition text;
  checker text := realtime.checker_name(publish.relation);
begin
  -- the key's column names travel as trigger arguments: no catalog lookup per row change
  select coalesce(pg_catalog.string_agg(pg_catalog.quote_literal(a.attname), ', '
                                        order by k.n), ''),
         pg_catalog.string_agg(pg_catalog.format('t.%I = (k.value ->> %L)::%s', a.attname,
                               a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)),
                               ' and ' order by k.n)
    into key_columns, condition
    from pg_catalog.pg_index i
    cross join lateral pg_catalog.unnest(i.indkey) with ordinality as k(attnum, n)
    join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
   where i.indrelid = publish.relation and i.indisprimary;
  execute pg_catalog.format(
    'create or replace trigger gptdesk_realtime after insert or update or delete on %s '
    'for each row execute function realtime.publish_change(%s)', publish.relation, key_columns);
  if condition is not null then
    execute pg_catalog.format($f$
      create or replace function realtime.%I(keys jsonb, claims jsonb)
      returns table (claims_index integer, key_index integer)
      language plpgsql volatile set search_path = ''
      as $body$
      declare
        one_claims jsonb;
        i integer := 0;
        role_name text;
      begin
        for one_claims in select value from pg_catalog.jsonb_array_elements(claims) loop
          role_name := coalesce(one_claims ->> 'role', 'anon');
          if role_name in ('anon', 'authenticated', 'service_role') then
            perform pg_catalog.set_config('role', role_name, true);
            perform pg_catalog.set_config('request.jwt.claims', one_claims::text, true);
            return query
              select i, (k.ordinality - 1)::integer
                from pg_catalog.jsonb_array_elements(keys) with ordinality as k(value, ordinality)
               where exists (select from %s t where %s);
            perform pg_catalog.set_config('role', 'none', true);
          end if;
          i := i + 1;
        end loop;
        perform pg_catalog.set_config('request.jwt.claims', '', true);
      end
      $body$ $f$, checker, publish.relation, condition);
    execute pg_catalog.format(
      'revoke execute on function realtime.%I(jsonb, jsonb) from public, anon, authenticated, '
      'service_role', checker);
    execute pg_catalog.format(
      'grant execute on function realtime.%I(jsonb, jsonb) to authenticator', checker);
  end if;
  insert into realtime.published_tables (relation) values (publish.relation)
  on conflict do nothing;
end
$$;

create or replace function realtime.unpublish(relation regclass)
returns void
language plpgsql
set search_path = ''
as $$
begin
  execute pg_catalog.format('drop trigger if exists gptdesk_realtime on %s', unpublish.relation);
  execute pg_catalog.format('drop function if exists realtime.%I(jsonb, jsonb)',
                            realtime.checker_name(unpublish.relation));
  delete from realtime.published_tables p where p.relation = unpublish.relation;
end
$$;

revoke execute on function realtime.publish(regclass), realtime.unpublish(regclass),
  realtime.checker_name(regclass) from public, anon, authenticated, service_role;

select realtime.publish('public.chat_messages');
select realtime.publish('public.gpts');

-- Which of the rows keyed `keys` (an array of primary-key objects, e.g. [{"id": …}]) of
-- `relation` each of `claims` (an array of JWT claims) may SELECT now: rows of
-- (claims index, key index). Each claims' role and request.jwt.claims are set as for a
-- request, so RLS decides; the role is restored after each. Runs as the caller (the
-- server's pool login), which may take the API roles; never SECURITY DEFINER.
create or replace function realtime.visible_rows(relation regclass, keys jsonb, claims jsonb)
returns table (claims_index integer, key_index integer)
language plpgsql
volatile
set search_path = ''
as $$
begin
  if not exists (select from pg_catalog.pg_proc f
                  where f.pronamespace = 'realtime'::regnamespace
                    and f.proname = realtime.checker_name(visible_rows.relation)) then
    return;  -- not published, or no primary key: nothing can be checked, nothing is sent
  end if;
  return query execute pg_catalog.format('select * from realtime.%I($1, $2)',
                                         realtime.checker_name(visible_rows.relation))
    using visible_rows.keys, visible_rows.claims;
end
$$;

revoke execute on function realtime.visible_rows(regclass, jsonb, jsonb)
  from public, anon, authenticated, service_role;

-- The server's pool login reads large changes and runs the visibility check.
grant usage on schema realtime to authenticator;
grant select on realtime.published_tables to authenticator;
grant select on realtime.large_changes to authenticator;
grant execute on function realtime.visible_rows(regclass, jsonb, jsonb),
  realtime.checker_name(regclass) to authenticator;

-- For DELETE the row is gone, so visible_rows cannot find it. Supabase then sends the key
-- to every subscriber of the table, whatever its policies (a leak of which rows another
-- team deletes). Here each deleted row is checked against the table's SELECT policies
-- themselves, evaluated on the old row's values under each subscriber's role and claims:
-- `rows` holds the whole old rows; permissive policies OR-ed, restrictive AND-ed, as
-- PostgreSQL combines them. A table without RLS shows its rows to whoever may SELECT it.
create or replace function realtime.visible_old_rows(relation regclass, rows jsonb, claims jsonb)
returns table (claims_index integer, key_index integer)
language plpgsql
volatile
set search_path = ''
as $$
declare
  one_claims jsonb;
  i integer := 0;
  role_name text;
  permissive text;
  restrictive text;
  rls boolean;
  table_name text;
begin
  select c.relrowsecurity, c.relname into rls, table_name
    from pg_catalog.pg_class c where c.oid = visible_old_rows.relation;
  for one_claims in select value from pg_catalog.jsonb_array_elements(visible_old_rows.claims)
  loop
    role_name := coalesce(one_claims ->> 'role', 'anon');
    if role_name not in ('anon', 'authenticated', 'service_role')
       or not pg_catalog.has_table_privilege(role_name, visible_old_rows.relation, 'SELECT') then
      i := i + 1;
      continue;
    end if;
    if not rls or role_name = 'service_role' then
      permissive := 'true';
      restrictive := 'true';
    else
      select coalesce(pg_catalog.string_agg('(' || q.qual || ')', ' or ')
                        filter (where q.permissive), 'false'),
             coalesce(pg_catalog.string_agg('(' || q.qual || ')', ' and ')
                        filter (where not q.permissive), 'true')
        into permissive, restrictive
        from (select pg_catalog.pg_get_expr(p.polqual, p.polrelid) as qual,
                     p.polpermissive as permissive
                from pg_catalog.pg_policy p
               where p.polrelid = visible_old_rows.relation
                 and p.polcmd in ('r', '*')
                 and p.polqual is not null
                 and (0::oid = any(p.polroles)
                      or (select r.oid from pg_catalog.pg_roles r where r.rolname = role_name)
                         = any(p.polroles))) q;
    end if;
    perform pg_catalog.set_config('role', role_name, true);
    perform pg_catalog.set_config('request.jwt.claims', one_claims::text, true);
    return query execute pg_catalog.format(
      'select %s::integer, (k.ordinality - 1)::integer
         from pg_catalog.jsonb_array_elements($1) with ordinality as k(value, ordinality)
        where exists (select from pg_catalog.jsonb_populate_record(null::%s, k.value) as %I
                       where (%s) and (%s))',
      i, visible_old_rows.relation, table_name, permissive, restrictive)
      using visible_old_rows.rows;
    perform pg_catalog.set_config('role', 'none', true);
    i := i + 1;
  end loop;
  perform pg_catalog.set_config('request.jwt.claims', '', true);
end
$$;

revoke execute on function realtime.visible_old_rows(regclass, jsonb, jsonb)
  from public, anon, authenticated, service_role;
grant execute on function realtime.visible_old_rows(regclass, jsonb, jsonb) to authenticator;
