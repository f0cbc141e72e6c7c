-- 0024_analytics_totals: the whole organization's usage per day, and each GPT's running
-- totals per month, so that dashboards over many teams and GPTs read a few rows per day.
--
-- Issue 8's benchmark measured the dashboards at 10M usage rows over 1,000 teams and 5,000
-- GPTs: an organization-wide total summed 30,000 team-days (one row per team and day), and
-- ranking the top GPTs summed one row per GPT, model and day.
--
-- `usage_daily_totals` keeps the figures of 0022's rollups per day for everyone together,
-- spread over 16 slots (chosen by the usage row's id) so that concurrent chat answers do not
-- all queue on one row's lock until they commit. Read by super admins only: every other
-- caller's question names a team or a user.
--
-- `analytics.gpt_running_totals` keeps each GPT's requests and cost through each day of a
-- month; read like the per-GPT rollup (team admins their team's, super admins all).
--
-- Both are kept by one row trigger beside 0022's, and TRUNCATE empties them.
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

-- ---------------------------------------------------------------------------------------
-- Each GPT's running totals through each day of a month, for ranking GPTs over any range.
-- ---------------------------------------------------------------------------------------

-- The dashboard's top GPTs rank every GPT by its requests (then cost) in a range: from daily
-- rows that is one row per GPT, model and day (225,000 for 30 days of 5,000 GPTs). Here each
-- GPT has one row per month whose arrays hold its requests and cost from the month's first
-- day through each day (element d: days 1 to d), so a range's sum within a month is two
-- elements subtracted, and ranking reads one row per GPT and month.
create table if not exists analytics.gpt_running_totals (
    month date not null check (extract(day from month) = 1),
    team_id uuid,
    gpt_id uuid not null,
    requests integer[] not null,
    cost numeric(20, 8)[] not null,
    unique nulls not distinct (month, team_id, gpt_id)
);
create index if not exists gpt_running_totals_team on analytics.gpt_running_totals (team_id, month);
alter table analytics.gpt_running_totals enable row level security;
revoke all on analytics.gpt_running_totals from public, anon;
grant select on analytics.gpt_running_totals to authenticated, service_role;

drop policy if exists "Admins can view their team's GPT running totals" on analytics.gpt_running_totals;
create policy "Admins can view their team's GPT running totals" on analytics.gpt_running_totals
  for select to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())));
drop policy if exists "Super admins can view all GPT running totals" on analytics.gpt_running_totals;
create policy "Super admins can view all GPT running totals" on analytics.gpt_running_totals
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- `sums` (31 running totals; missing ones count as 0) with `delta` added from day `day` on.
create or replace function analytics.running_add(sums anycompatiblearray, day integer, delta anycompatible)
returns anycompatiblearray
language sql
immutable
parallel safe
as $$
  select pg_catalog.array_agg(coalesce(sums[i], 0) + case when i >= day then delta else 0 end order by i)
    from pg_catalog.generate_series(1, 31) as i
$$;

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

-- Adds one usage row to its day's slot and to its GPT's running totals (`sign` 1) or takes it
-- out (-1); a slot, or a GPT's month, left with no request is removed.
create or replace function analytics.roll_totals(u public.usage_analytics, sign integer)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  usage_day date := (u.created_at at time zone 'UTC')::date;
  usage_slot smallint := analytics.usage_slot(u.id);
  usage_month date := pg_catalog.date_trunc('month', usage_day)::date;
  day_number integer := extract(day from usage_day)::integer;
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
  if u.gpt_id is not null then
    insert into analytics.gpt_running_totals as g (month, team_id, gpt_id, requests, cost)
    values (usage_month, u.team_id, u.gpt_id,
            analytics.running_add('{}'::integer[], day_number, sign),
            analytics.running_add('{}'::numeric[], day_number, sign * coalesce(u.cost, 0)))
    on conflict (month, team_id, gpt_id) do update
       set requests = analytics.running_add(g.requests, day_number, sign),
           cost = analytics.running_add(g.cost, day_number, sign * coalesce(u.cost, 0))
    returning g.requests[31] into left_requests;
    if left_requests = 0 then  -- no request of the GPT's left in the month
      delete from analytics.gpt_running_totals x
       where x.month = usage_month and x.team_id is not distinct from u.team_id
         and x.gpt_id = u.gpt_id;
    end if;
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
  delete from analytics.gpt_running_totals;
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

-- The GPTs' running totals from the rows already recorded (again from scratch on a re-run).
delete from analytics.gpt_running_totals;
insert into analytics.gpt_running_totals (month, team_id, gpt_id, requests, cost)
  select k.month, k.team_id, k.gpt_id,
         pg_catalog.array_agg(k.requests order by k.day_number),
         pg_catalog.array_agg(k.cost order by k.day_number)
    from (select d.month, d.team_id, d.gpt_id, i.day_number,
                 coalesce(sum(d.requests) filter (where d.day_number <= i.day_number), 0)::integer as requests,
                 coalesce(sum(d.cost) filter (where d.day_number <= i.day_number), 0) as cost
            from (select pg_catalog.date_trunc('month', r.day)::date as month, r.team_id, r.gpt_id,
                         extract(day from r.day)::integer as day_number,
                         sum(r.requests) as requests, sum(r.cost) as cost
                    from public.usage_daily_gpts r
                   where r.gpt_id is not null
                   group by 1, 2, 3, 4) d
           cross join pg_catalog.generate_series(1, 31) as i (day_number)
           group by 1, 2, 3, 4) k
   group by 1, 2, 3;
