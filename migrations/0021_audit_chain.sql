-- 0021_audit_chain: a tamper-evident audit trail.
--
-- Every audit row gets a gapless sequence number, the hash of the row before it and its own
-- hash (SHA-256 over the row's fields, quote_nullable'd and comma-joined, in the order of
-- audit.row_text). A deferred constraint trigger assigns them as the inserting transaction
-- commits, from the one row of audit.chain_head, locked only from then to the end of the
-- commit: chain order is commit order, a rolled-back (or skipped: ON CONFLICT DO NOTHING)
-- row leaves no gap, transactions writing audit rows do not hold the head while they work
-- (no deadlocks between them), and a row written by a trigger is chained in the same
-- transaction as the change it records. `gptdesk audit verify`
-- recomputes every hash outside the database and names any row edited, deleted, inserted or
-- reordered; the head's sequence number and hash also catch rows cut off the end.
--
-- No role may UPDATE, DELETE or TRUNCATE audit rows (a trigger refuses even the owner);
-- the one way rows leave is public.purge_audit_logs, which removes a prefix of the chain
-- older than a cutoff, keeps the last removed hash as the new start of the chain, and is
-- itself audited.
--
-- Also here: changes to governed rows (GPTs, teams, model prices) are audited by one trigger
-- with before/after of the columns that changed, in the same transaction.
set local lock_timeout = '5s';

create schema if not exists audit;
revoke all on schema audit from public;

create table if not exists audit.chain_head (
    one boolean primary key default true check (one),
    seq bigint not null default 0,
    hash text not null default repeat('0', 64),
    -- the start of the remaining chain after a purge: the last purged row's seq and hash
    purged_through_seq bigint not null default 0,
    purged_through_hash text not null default repeat('0', 64)
);
revoke all on audit.chain_head from public, anon, authenticated, service_role;

-- An audit row outlives what it names: the seed's foreign keys null user_id and team_id
-- when the user or team is deleted (and clients embed users through them, so they stay).
-- The hash covers recorded_user_id and recorded_team_id instead, copies taken when the row
-- is written, which nothing changes; the only update allowed is that nulling.
alter table public.audit_logs
  add column if not exists recorded_user_id uuid,
  add column if not exists recorded_team_id uuid,
  add column if not exists seq bigint,
  add column if not exists prev_hash text,
  add column if not exists hash text;

-- The text a row's hash is taken over. `gptdesk audit verify` reads the same fields as
-- text and rebuilds this string by itself, so a replaced function cannot hide an edit.
create or replace function audit.row_text(a public.audit_logs)
returns text
language sql
immutable
set search_path = ''
as $$
  select pg_catalog.concat_ws(',',
    pg_catalog.quote_nullable(a.seq::text),
    pg_catalog.quote_nullable(a.prev_hash),
    pg_catalog.quote_nullable(a.id::text),
    pg_catalog.quote_nullable(
      pg_catalog.to_char(a.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
    pg_catalog.quote_nullable(a.recorded_user_id::text),
    pg_catalog.quote_nullable(a.recorded_team_id::text),
    pg_catalog.quote_nullable(a.action::text),
    pg_catalog.quote_nullable(a.resource_type::text),
    pg_catalog.quote_nullable(a.resource_id::text),
    pg_catalog.quote_nullable(a.details::text),
    pg_catalog.quote_nullable(a.ip_address::text),
    pg_catalog.quote_nullable(a.user_agent))
$$;

create or replace function audit.row_hash(a public.audit_logs)
returns text
language sql
immutable
set search_path = ''
as $$
  select pg_catalog.encode(
    pg_catalog.sha256(pg_catalog.convert_to(audit.row_text(a), 'UTF8')), 'hex')
$$;

-- Keeps the actor and team as written (the hash covers these copies).
create or replace function audit.record_subjects()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.recorded_user_id := new.user_id;
  new.recorded_team_id := new.team_id;
  new.seq := null;
  new.prev_hash := null;
  new.hash := null;
  new.created_at := coalesce(new.created_at, now());
  return new;
end
$$;

-- Chains a new row at commit: the next seq, the previous hash, its own hash.
create or replace function audit.chain_row()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  head audit.chain_head;
  chained public.audit_logs;
begin
  select * into head from audit.chain_head where one for update;
  select * into chained from public.audit_logs a where a.id = new.id;
  if not found or chained.seq is not null then
    return null;
  end if;
  chained.seq := head.seq + 1;
  chained.prev_hash := head.hash;
  chained.hash := audit.row_hash(chained);
  update public.audit_logs a
     set seq = chained.seq, prev_hash = chained.prev_hash, hash = chained.hash
   where a.id = new.id;
  update audit.chain_head set seq = chained.seq, hash = chained.hash where one;
  return null;
end
$$;

-- Refuses every UPDATE and DELETE, except the DELETE of public.purge_audit_logs, the
-- foreign keys' nulling of user_id and team_id, and the chaining of rows from before this
-- migration.
create or replace function audit.refuse_change()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' and current_setting('gptdesk.audit_purge', true) = 'on'
     and old.seq <= (select h.purged_through_seq from audit.chain_head h where h.one) then
    return old;  -- purge_audit_logs, which records the new start of the chain first
  end if;
  if tg_op = 'UPDATE' and old.seq is null
     and (pg_catalog.to_jsonb(new) - 'seq' - 'prev_hash' - 'hash' - 'recorded_user_id'
          - 'recorded_team_id') = (pg_catalog.to_jsonb(old) - 'seq' - 'prev_hash' - 'hash'
          - 'recorded_user_id' - 'recorded_team_id') then
    return new;  -- chaining a row at commit (or one written before the chain existed)
  end if;
  if tg_op = 'UPDATE'
     and (new.user_id is null or new.user_id = old.user_id)
     and (new.team_id is null or new.team_id = old.team_id)
     and (pg_catalog.to_jsonb(new) - 'user_id' - 'team_id')
         = (pg_catalog.to_jsonb(old) - 'user_id' - 'team_id') then
    return new;  -- the foreign keys forgetting a deleted user or team (the hash keeps them)
  end if;
  raise exception using
    errcode = '42501',
    message = 'audit rows cannot be changed or removed',
    hint = 'Old rows leave only through purge_audit_logs (gptdesk audit purge).';
end
$$;

revoke execute on function audit.chain_row(), audit.refuse_change(), audit.record_subjects(),
  audit.row_text(public.audit_logs), audit.row_hash(public.audit_logs)
  from public, anon, authenticated, service_role;

-- Chain the rows already written, oldest first, once.
lock table public.audit_logs in exclusive mode;
insert into audit.chain_head (one) values (true) on conflict do nothing;
do $$
declare
  r record;
  head audit.chain_head;
  chained public.audit_logs;
begin
  for r in select a.id from public.audit_logs a where a.seq is null
           order by a.created_at, a.id loop
    select * into head from audit.chain_head where one;
    select * into chained from public.audit_logs a where a.id = r.id;
    chained.seq := head.seq + 1;
    chained.prev_hash := head.hash;
    chained.recorded_user_id := chained.user_id;
    chained.recorded_team_id := chained.team_id;
    chained.hash := audit.row_hash(chained);
    update public.audit_logs a
       set seq = chained.seq, prev_hash = chained.prev_hash, hash = chained.hash,
           recorded_user_id = chained.recorded_user_id, recorded_team_id = chained.recorded_team_id
     where a.id = r.id;
    update audit.chain_head set seq = chained.seq, hash = chained.hash where one;
  end loop;
end
$$;

create unique index if not exists audit_logs_seq on public.audit_logs (seq);
create index if not exists audit_logs_recorded_team
  on public.audit_logs (recorded_team_id, created_at desc);

-- A team's admins read the rows recorded for their team, also once the foreign key has
-- forgotten a team that was deleted and made again (0005's policy read team_id).
drop policy if exists "Admins can view their team's audit logs" on public.audit_logs;
create policy "Admins can view their team's audit logs" on public.audit_logs
  for select to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and recorded_team_id = (select public.get_user_team_id(auth.uid())));
create index if not exists audit_logs_action_created on public.audit_logs (action, created_at desc);

create or replace trigger record_subjects before insert on public.audit_logs
  for each row execute function audit.record_subjects();
-- (a constraint trigger has no CREATE OR REPLACE)
drop trigger if exists chain_row on public.audit_logs;
create constraint trigger chain_row after insert on public.audit_logs
  deferrable initially deferred
  for each row execute function audit.chain_row();
create or replace trigger refuse_change before update or delete on public.audit_logs
  for each row execute function audit.refuse_change();
create or replace trigger refuse_truncate before truncate on public.audit_logs
  for each statement execute function audit.refuse_change();
revoke update, delete, truncate on public.audit_logs from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Retention: removes the audit rows older than `older_than` that start the chain (the
-- longest prefix in chain order, so the rest still verifies from the recorded start),
-- and records the purge — who, the cutoff, the justification, how many rows, and the new
-- start of the chain — as an `audit.purged` row. For super admins (and the server's own
-- tools); a justification is required. Returns the number of rows removed.
-- ---------------------------------------------------------------------------------------
create or replace function public.purge_audit_logs(older_than timestamptz, justification text)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  through_seq bigint;
  through_hash text;
  removed bigint;
begin
  -- super admins, the service role, or the owner's own tools (no claims, not a request)
  if not (public.is_super_admin(auth.uid()) or auth.role() = 'service_role'
          or (auth.role() is null and session_user::text <> 'authenticator')) then
    raise exception using errcode = '42501',
      message = 'only super admins may purge audit logs';
  end if;
  if purge_audit_logs.older_than is null or purge_audit_logs.older_than > now() then
    raise exception using errcode = '22023',
      message = 'older_than must be a time in the past';
  end if;
  if coalesce(purge_audit_logs.justification, '') ~ '^\s*$' then
    raise exception using errcode = '22023', message = 'a justification is required';
  end if;

  perform 1 from audit.chain_head where one for update;
  select coalesce(min(a.seq) - 1, (select h.seq from audit.chain_head h where h.one))
    into through_seq
    from public.audit_logs a where a.created_at >= purge_audit_logs.older_than;
  select a.hash into through_hash from public.audit_logs a where a.seq = through_seq;
  if through_hash is null then
    removed := 0;  -- nothing older than the cutoff remains at the start of the chain
  else
    update audit.chain_head
       set purged_through_seq = through_seq, purged_through_hash = through_hash
     where one;
    perform pg_catalog.set_config('gptdesk.audit_purge', 'on', true);
    delete from public.audit_logs a where a.seq <= through_seq;
    get diagnostics removed = row_count;
    perform pg_catalog.set_config('gptdesk.audit_purge', 'off', true);
  end if;
  perform public.log_action('audit.purged', 'audit_log', null, pg_catalog.jsonb_build_object(
    'older_than', purge_audit_logs.older_than, 'justification', purge_audit_logs.justification,
    'rows', removed, 'through_seq', through_seq, 'through_hash', through_hash,
    'actor_role', coalesce(auth.role(), session_user::text)));
  return removed;
end
$$;

revoke all on function public.purge_audit_logs(timestamptz, text) from public, anon;
grant execute on function public.purge_audit_logs(timestamptz, text) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Changes to governed rows: `<resource>.created|updated|deleted` with before/after of the
-- columns that changed. Trigger arguments: the resource type, then columns to leave out
-- (counters the database keeps — an update of only those is not audited).
-- ---------------------------------------------------------------------------------------
create or replace function audit.record_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  resource text := tg_argv[0];
  ignored text[] := tg_argv[1:];
  before_row jsonb := case when tg_op <> 'INSERT' then pg_catalog.to_jsonb(old) end;
  after_row jsonb := case when tg_op <> 'DELETE' then pg_catalog.to_jsonb(new) end;
  changed_before jsonb := '{}'::jsonb;
  changed_after jsonb := '{}'::jsonb;
  k text;
  actor uuid := auth.uid();
  actor_profile uuid;
  row_team uuid;
begin
  if tg_op = 'UPDATE' then
    for k in select pg_catalog.jsonb_object_keys(after_row) loop
      if k <> all (ignored) and k <> 'updated_at'
         and (after_row -> k) is distinct from (before_row -> k) then
        changed_before := changed_before || pg_catalog.jsonb_build_object(k, before_row -> k);
        changed_after := changed_after || pg_catalog.jsonb_build_object(k, after_row -> k);
      end if;
    end loop;
    if changed_after = '{}'::jsonb then
      return null;
    end if;
  else
    for k in select pg_catalog.jsonb_object_keys(coalesce(after_row, before_row)) loop
      if k = any (ignored) then
        before_row := before_row - k;
        after_row := after_row - k;
      end if;
    end loop;
    changed_before := before_row;
    changed_after := after_row;
  end if;
  select u.id into actor_profile from public.users u where u.id = actor;
  row_team := case when tg_table_name = 'teams'
                   then coalesce(after_row ->> 'id', before_row ->> 'id')
                   else coalesce(after_row ->> 'team_id', before_row ->> 'team_id') end;
  -- a team being deleted: the audit row cannot point at it (its id stays in `before`)
  select t.id into row_team from public.teams t where t.id = row_team;
  insert into public.audit_logs
    (user_id, team_id, action, resource_type, resource_id, details, ip_address, user_agent)
  values (
    actor_profile, row_team,
    resource || '.' || case tg_op when 'INSERT' then 'created' when 'UPDATE' then 'updated'
                                  else 'deleted' end,
    resource,
    (coalesce(after_row ->> 'id', before_row ->> 'id'))::uuid,
    pg_catalog.jsonb_build_object('before', changed_before, 'after', changed_after)
      || case when actor is not null and actor_profile is null
              then pg_catalog.jsonb_build_object('actor_id', actor) else '{}'::jsonb end,
    public.request_client_ip(), public.request_user_agent());
  return null;
end
$$;

revoke execute on function audit.record_change() from public, anon, authenticated, service_role;

create or replace trigger audit_change after insert or update or delete on public.gpts
  for each row execute function audit.record_change(
    'gpt', 'usage_count', 'monthly_cost', 'rating');
create or replace trigger audit_change after insert or update or delete on public.teams
  for each row execute function audit.record_change('team', 'member_count');
create or replace trigger audit_change after insert or update or delete on public.model_prices
  for each row execute function audit.record_change('model_price');
