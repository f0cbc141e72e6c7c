-- 0024_analytics_totals: the whole organization's usage per day, so that a super admin's
-- dashboard reads a few rows per day instead of one per team.
--
-- Issue 8's benchmark measured the dashboards at 10M usage rows over 1,000 teams: an
-- organization-wide total summed 30,000 team-days (one row per team and day) for each of the
-- current and previous periods and the daily series. `usage_daily_totals` keeps the figures
-- of 0022's rollups per day for everyone together, spread over 16 slots (chosen by the usage
-- row's id) so that concurrent chat answers do not all queue on one row's lock until they
-- commit. Kept by its own row trigger beside 0022's; TRUNCATE empties it. Read by super
-- admins only (every other caller's question names a team or a user).
set local lock_timeout = '5s';

create table if not exists public.usage_daily_totals (
    day date not null,
    slot smallint not null check (slot between 0 and 15),

    requests integer not null default 0,
    failed_requests integer not null default 0,
    unpriced_requests integer not null default 0,
    prompt_tokens bigint not null default 0,
    completion_tokens bigint not null default 0,
    cost numeric(20, 8) not null default 0,
    response_ms_sum bigint not null default 0,
    h00 integer not null default 0,
    h01 integer not null default 0,
    h02 integer not null default 0,
    h03 integer not null default 0,
    h04 integer not null default 0,
    h05 integer not null default 0,
    h06 integer not null default 0,
    h07 integer not null default 0,
    h08 integer not null default 0,
    h09 integer not null default 0,
    h10 integer not null default 0,
    h11 integer not null default 0,
    h12 integer not null default 0,
    h13 integer not null default 0,
    h14 integer not null default 0,
    h15 integer not null default 0,
    h16 integer not null default 0,
    h17 integer not null default 0,
    h18 integer not null default 0,
    h19 integer not null default 0,
    primary key (day, slot)
);
alter table public.usage_daily_totals enable row level security;
revoke all on public.usage_daily_totals from anon;
revoke insert, update, delete, truncate on public.usage_daily_totals from authenticated, service_role;

drop policy if exists "Super admins can view the organization's daily usage" on public.usage_daily_totals;
create policy "Super admins can view the organization's daily usage" on public.usage_daily_totals
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- The slot of a usage row: the low four bits of its id (random for generated ids). No SET
-- clause, so that PostgreSQL inlines it (built-in functions only).
create or replace function analytics.usage_slot(id uuid)
returns smallint
language sql
immutable
parallel safe
as $$
  select (pg_catalog.get_byte(pg_catalog.uuid_send(id), 15) & 15)::smallint
$$;

-- Adds one usage row to its day's slot (`sign` 1) or takes it out (-1); a slot left with no
-- request is removed.
create or replace function analytics.roll_totals(u public.usage_analytics, sign integer)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  usage_day date := (u.created_at at time zone 'UTC')::date;
  usage_slot smallint := analytics.usage_slot(u.id);
  bucket integer := analytics.response_bucket(u.response_time_ms);
  failed integer := (coalesce(u.metrics ->> 'status', 'completed') <> 'completed')::integer;
  unpriced integer := (u.cost is null)::integer;
  prompts bigint := coalesce((u.metrics ->> 'prompt_tokens')::bigint, 0);
  completions bigint := coalesce((u.metrics ->> 'completion_tokens')::bigint, 0);
  left_requests integer;
begin
  insert into public.usage_daily_totals as t (day, slot, requests, failed_requests, unpriced_requests, prompt_tokens, completion_tokens, cost, response_ms_sum, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19)
  values (usage_day, usage_slot,
          sign, sign * failed, sign * unpriced, sign * prompts, sign * completions,
          sign * coalesce(u.cost, 0), sign * u.response_time_ms,
          sign * (bucket = 0)::integer, sign * (bucket = 1)::integer, sign * (bucket = 2)::integer, sign * (bucket = 3)::integer, sign * (bucket = 4)::integer,
          sign * (bucket = 5)::integer, sign * (bucket = 6)::integer, sign * (bucket = 7)::integer, sign * (bucket = 8)::integer, sign * (bucket = 9)::integer,
          sign * (bucket = 10)::integer, sign * (bucket = 11)::integer, sign * (bucket = 12)::integer, sign * (bucket = 13)::integer, sign * (bucket = 14)::integer,
          sign * (bucket = 15)::integer, sign * (bucket = 16)::integer, sign * (bucket = 17)::integer, sign * (bucket = 18)::integer, sign * (bucket = 19)::integer)
  on conflict (day, slot) do update
      set requests = t.requests + excluded.requests,
          failed_requests = t.failed_requests + excluded.failed_requests,
          unpriced_requests = t.unpriced_requests + excluded.unpriced_requests,
          prompt_tokens = t.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = t.completion_tokens + excluded.completion_tokens,
          cost = t.cost + excluded.cost,
          response_ms_sum = t.response_ms_sum + excluded.response_ms_sum,
          h00 = t.h00 + excluded.h00,
          h01 = t.h01 + excluded.h01,
          h02 = t.h02 + excluded.h02,
          h03 = t.h03 + excluded.h03,
          h04 = t.h04 + excluded.h04,
          h05 = t.h05 + excluded.h05,
          h06 = t.h06 + excluded.h06,
          h07 = t.h07 + excluded.h07,
          h08 = t.h08 + excluded.h08,
          h09 = t.h09 + excluded.h09,
          h10 = t.h10 + excluded.h10,
          h11 = t.h11 + excluded.h11,
          h12 = t.h12 + excluded.h12,
          h13 = t.h13 + excluded.h13,
          h14 = t.h14 + excluded.h14,
          h15 = t.h15 + excluded.h15,
          h16 = t.h16 + excluded.h16,
          h17 = t.h17 + excluded.h17,
          h18 = t.h18 + excluded.h18,
          h19 = t.h19 + excluded.h19
  returning t.requests into left_requests;
  if left_requests = 0 then
    delete from public.usage_daily_totals x where x.day = usage_day and x.slot = usage_slot;
  end if;
end
$$;

create or replace function analytics.rollup_totals()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform analytics.roll_totals(old, -1);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform analytics.roll_totals(new, 1);
  end if;
  return null;
end
$$;

create or replace function analytics.clear_totals()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.usage_daily_totals;
  return null;
end
$$;
revoke execute on function analytics.roll_totals(public.usage_analytics, integer),
  analytics.rollup_totals(), analytics.clear_totals()
  from public, anon, authenticated, service_role;

create or replace trigger rollup_usage_totals
  after insert or update or delete on public.usage_analytics
  for each row execute function analytics.rollup_totals();
create or replace trigger rollup_usage_totals_truncate after truncate on public.usage_analytics
  for each statement execute function analytics.clear_totals();

-- Build the totals from the rows already recorded (again from scratch on a re-run).
lock table public.usage_analytics in share mode;
delete from public.usage_daily_totals;
insert into public.usage_daily_totals (day, slot, requests, failed_requests, unpriced_requests, prompt_tokens, completion_tokens, cost, response_ms_sum, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19)
  select (r.created_at at time zone 'UTC')::date, analytics.usage_slot(r.id),
         count(*),
         count(*) filter (where coalesce(r.metrics ->> 'status', 'completed') <> 'completed'),
         count(*) filter (where r.cost is null),
         coalesce(sum((r.metrics ->> 'prompt_tokens')::bigint), 0),
         coalesce(sum((r.metrics ->> 'completion_tokens')::bigint), 0),
         coalesce(sum(r.cost), 0),
         coalesce(sum(r.response_time_ms), 0),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 0),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 1),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 2),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 3),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 4),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 5),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 6),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 7),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 8),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 9),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 10),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 11),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 12),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 13),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 14),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 15),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 16),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 17),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 18),
         count(*) filter (where analytics.response_bucket(r.response_time_ms) = 19)
    from public.usage_analytics r
   group by 1, 2;
