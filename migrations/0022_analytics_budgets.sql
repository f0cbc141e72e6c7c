-- 0022_analytics_budgets: daily usage rollups kept incrementally from usage_analytics, and
-- monthly budgets per team and per GPT with alert thresholds.
--
-- Rollups: three tables, one per question dashboards ask — a team's totals per day, each GPT
-- and model per day, each user per day — each row holding requests, failures, unpriced
-- requests, prompt and completion tokens, cost, the sum of response times and a fixed
-- response-time histogram (for p95 without the raw rows). A row trigger adds each inserted
-- row and takes each deleted one out (an update does both; TRUNCATE empties the rollups), so
-- the rollups always equal the raw sums; days are UTC days of created_at. Reading: the row's user, the admins of its team and super admins,
-- as for usage_analytics itself (team and GPT totals: admins and super admins only).
--
-- Budgets: `budgets` holds a monthly limit for a team (gpt_id null) or one of its GPTs, the
-- alert thresholds in percent, an optional webhook and whether to stop chats at 100 %.
-- After usage is recorded, analytics.check_budgets compares the month's spend (from the
-- rollups) with each threshold; a threshold reached adds one `budget_alerts` row per budget,
-- period and threshold (so it fires once per month), an audit row, and through realtime
-- (budget_alerts is published, and RLS lets only the team's admins and super admins read it)
-- reaches the team's admins; the server delivers the webhook. The hard stop is enforced by
-- gateway.open_turn before a provider is called (0023).
set local lock_timeout = '5s';

create schema if not exists analytics;
revoke all on schema analytics from public;
grant usage on schema analytics to authenticated, service_role;

-- The response-time histogram's buckets: h00 holds answers up to 50 ms, h01 up to 100 ms
-- and so on to h18 (up to 120000 ms); h19 holds slower ones. Upper bounds, in ms:
-- 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 7500, 10000, 15000, 20000, 30000, 60000, 120000. gptdesk.analytics.percentiles reads them the same way.
-- No SET clause, so that PostgreSQL inlines it (built-in operators only).
create or replace function analytics.response_bucket(ms integer)
returns integer
language sql
immutable
parallel safe
as $$
  select pg_catalog.width_bucket(ms, array[51, 101, 201, 301, 501, 751, 1001, 1501, 2001, 3001, 4001, 5001, 7501, 10001, 15001, 20001, 30001, 60001, 120001]::integer[])
$$;

-- A team's usage per day (all its users, GPTs and models).
create table if not exists public.usage_daily_teams (
    id bigint generated always as identity primary key,
    day date not null,
    team_id uuid,

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
    unique nulls not distinct (day, team_id)
);
alter table public.usage_daily_teams enable row level security;
revoke all on public.usage_daily_teams from anon;
revoke insert, update, delete, truncate on public.usage_daily_teams from authenticated, service_role;

-- Usage per day of each GPT and model in a team (a GPT's rows carry its team: the user's).
create table if not exists public.usage_daily_gpts (
    id bigint generated always as identity primary key,
    day date not null,
    team_id uuid,
    gpt_id uuid,
    model text,

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
    unique nulls not distinct (day, team_id, gpt_id, model)
);
alter table public.usage_daily_gpts enable row level security;
revoke all on public.usage_daily_gpts from anon;
revoke insert, update, delete, truncate on public.usage_daily_gpts from authenticated, service_role;

-- Each user's usage per day (active users are counted here).
create table if not exists public.usage_daily_users (
    id bigint generated always as identity primary key,
    day date not null,
    team_id uuid,
    user_id uuid,

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
    unique nulls not distinct (day, team_id, user_id)
);
alter table public.usage_daily_users enable row level security;
revoke all on public.usage_daily_users from anon;
revoke insert, update, delete, truncate on public.usage_daily_users from authenticated, service_role;

create index if not exists usage_daily_teams_team on public.usage_daily_teams (team_id, day);
create index if not exists usage_daily_gpts_gpt on public.usage_daily_gpts (gpt_id, day);
create index if not exists usage_daily_gpts_team on public.usage_daily_gpts (team_id, day);
create index if not exists usage_daily_users_user on public.usage_daily_users (user_id, day);
create index if not exists usage_daily_users_team on public.usage_daily_users (team_id, day);

drop policy if exists "Admins can view their team's daily usage" on public.usage_daily_teams;
create policy "Admins can view their team's daily usage" on public.usage_daily_teams
  for select to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())));
drop policy if exists "Super admins can view all daily usage" on public.usage_daily_teams;
create policy "Super admins can view all daily usage" on public.usage_daily_teams
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

drop policy if exists "Admins can view their team's GPT usage" on public.usage_daily_gpts;
create policy "Admins can view their team's GPT usage" on public.usage_daily_gpts
  for select to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())));
drop policy if exists "Super admins can view all GPT usage" on public.usage_daily_gpts;
create policy "Super admins can view all GPT usage" on public.usage_daily_gpts
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

drop policy if exists "Users can view their daily usage" on public.usage_daily_users;
create policy "Users can view their daily usage" on public.usage_daily_users
  for select to authenticated
  using (user_id = (select auth.uid()));
drop policy if exists "Admins can view their team's users' usage" on public.usage_daily_users;
create policy "Admins can view their team's users' usage" on public.usage_daily_users
  for select to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())));
drop policy if exists "Super admins can view all users' usage" on public.usage_daily_users;
create policy "Super admins can view all users' usage" on public.usage_daily_users
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- Active users: one row per user, team and month with a bit per day the user used GPT Desk,
-- kept with the per-user rollup. Counting the users active in a window reads at most two
-- months' rows per user, where counting distinct users over daily rows reads thirty.
create table if not exists analytics.user_active_days (
    month date not null check (extract(day from month) = 1),
    team_id uuid,
    user_id uuid not null,
    days bigint not null default 0,
    unique nulls not distinct (month, team_id, user_id)
);
create index if not exists user_active_days_user on analytics.user_active_days (user_id, month);
alter table analytics.user_active_days enable row level security;
revoke all on analytics.user_active_days from public, anon;
grant select on analytics.user_active_days to authenticated, service_role;

drop policy if exists "Users can view their active days" on analytics.user_active_days;
create policy "Users can view their active days" on analytics.user_active_days
  for select to authenticated
  using (user_id = (select auth.uid()));
drop policy if exists "Admins can view their team's active days" on analytics.user_active_days;
create policy "Admins can view their team's active days" on analytics.user_active_days
  for select to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())));
drop policy if exists "Super admins can view all active days" on analytics.user_active_days;
create policy "Super admins can view all active days" on analytics.user_active_days
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- The bits of `month` (its first day) that fall in [lo, hi]. No SET clause, so that
-- PostgreSQL inlines it (built-in operators only).
create or replace function analytics.day_mask(month date, lo date, hi date)
returns bigint
language sql
immutable
parallel safe
as $$
  select case
    when hi < month or lo >= (month + interval '1 month')::date then 0::bigint
    else ((1::bigint << (least(hi, (month + interval '1 month')::date - 1) - month + 1)) - 1)
         & ~((1::bigint << (greatest(lo, month) - month)) - 1)
  end
$$;
grant execute on function analytics.day_mask(date, date, date) to authenticated, service_role;

-- A user's own usage by GPT and model comes from the raw rows (few per user, indexed);
-- the newest first per user and GPT:
create index if not exists idx_usage_analytics_user_gpt_created
  on public.usage_analytics (user_id, gpt_id, created_at desc);

-- ---------------------------------------------------------------------------------------
-- Budgets.
-- ---------------------------------------------------------------------------------------

create table if not exists public.budgets (
    id uuid primary key default gen_random_uuid(),
    team_id uuid not null references public.teams (id) on delete cascade,
    gpt_id uuid references public.gpts (id) on delete cascade,
    monthly_limit numeric(14, 2) not null check (monthly_limit > 0),
    currency char(3) not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
    thresholds integer[] not null default '{80,100}'
      check (pg_catalog.cardinality(thresholds) between 1 and 10
             and 0 < all (thresholds) and 1000 >= all (thresholds)
             and array_position(thresholds, null) is null),
    hard_stop boolean not null default false,
    webhook_url text check (webhook_url ~ '^https?://[^\s]+$' and length(webhook_url) <= 2000),
    created_by uuid default auth.uid(),
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    unique nulls not distinct (team_id, gpt_id)
);
create index if not exists budgets_gpt on public.budgets (gpt_id) where gpt_id is not null;

create table if not exists public.budget_alerts (
    id uuid primary key default gen_random_uuid(),
    budget_id uuid not null references public.budgets (id) on delete cascade,
    team_id uuid not null references public.teams (id) on delete cascade,
    gpt_id uuid references public.gpts (id) on delete cascade,
    period date not null check (extract(day from period) = 1),
    threshold integer not null,
    spent numeric(20, 8) not null,
    monthly_limit numeric(14, 2) not null,
    currency char(3) not null,
    webhook_status text not null default 'none'
      check (webhook_status in ('none', 'pending', 'sending', 'sent', 'failed')),
    webhook_attempts integer not null default 0,
    webhook_next_at timestamp with time zone not null default now(),
    webhook_error text,
    created_at timestamp with time zone not null default now(),
    unique (budget_id, period, threshold)
);
create index if not exists budget_alerts_team on public.budget_alerts (team_id, created_at desc);
create index if not exists budget_alerts_webhook on public.budget_alerts (webhook_next_at)
  where webhook_status in ('pending', 'sending');

alter table public.budgets enable row level security;
alter table public.budget_alerts enable row level security;
revoke all on public.budgets, public.budget_alerts from anon;
revoke truncate on public.budgets from authenticated, service_role;
revoke insert, update, delete, truncate on public.budget_alerts from authenticated, service_role;

drop policy if exists "Admins can view their team's budgets" on public.budgets;
create policy "Admins can view their team's budgets" on public.budgets
  for select to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())));
drop policy if exists "Super admins can view all budgets" on public.budgets;
create policy "Super admins can view all budgets" on public.budgets
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));
drop policy if exists "Admins can set their team's budgets" on public.budgets;
create policy "Admins can set their team's budgets" on public.budgets
  for all to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())))
  with check ((select public.is_admin_or_super(auth.uid()))
              and team_id = (select public.get_user_team_id(auth.uid())));
drop policy if exists "Super admins can set all budgets" on public.budgets;
create policy "Super admins can set all budgets" on public.budgets
  for all to authenticated
  using ((select public.is_super_admin(auth.uid())))
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Admins can view their team's budget alerts" on public.budget_alerts;
create policy "Admins can view their team's budget alerts" on public.budget_alerts
  for select to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())));
drop policy if exists "Super admins can view all budget alerts" on public.budget_alerts;
create policy "Super admins can view all budget alerts" on public.budget_alerts
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- A GPT's budget belongs to the GPT's team, whatever the request said; thresholds are kept
-- sorted and without repeats.
create or replace function public.normalize_budget()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.gpt_id is not null then
    new.team_id := (select g.team_id from public.gpts g where g.id = new.gpt_id);
    if new.team_id is null then
      raise exception using errcode = '23514', message = 'a GPT budget needs a GPT in a team';
    end if;
  end if;
  new.thresholds := array(select distinct t from pg_catalog.unnest(new.thresholds) t order by t);
  return new;
end
$$;
revoke execute on function public.normalize_budget() from public, anon, authenticated, service_role;
create or replace trigger normalize_budget before insert or update on public.budgets
  for each row execute function public.normalize_budget();
create or replace trigger set_updated_at before update on public.budgets
  for each row execute function public.set_updated_at();
create or replace trigger audit_change after insert or update or delete on public.budgets
  for each row execute function audit.record_change('budget');

-- What a budget's scope spent in the month starting `period` (UTC), from the rollups.
create or replace function analytics.month_spend(team uuid, gpt uuid, period date)
returns numeric
language sql
stable
security definer
set search_path = ''
as $$
  select case when gpt is null then
      (select coalesce(sum(t.cost), 0) from public.usage_daily_teams t
        where t.team_id = team and t.day >= period and t.day < (period + interval '1 month')::date)
    else
      (select coalesce(sum(g.cost), 0) from public.usage_daily_gpts g
        where g.gpt_id = gpt and g.day >= period and g.day < (period + interval '1 month')::date)
    end
$$;

-- Fires each threshold the month's spend has reached and that has not fired this month:
-- an alert row (published to realtime; the webhook is queued when the budget has one: the
-- server delivers it, see analytics.claim_budget_webhooks) and
-- an audit row `budget.threshold_reached`.
create or replace function analytics.check_budgets(teams uuid[], gpts uuid[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  b public.budgets;
  this_month date := pg_catalog.date_trunc('month', now() at time zone 'UTC')::date;
  month_spent numeric;
  level integer;
  alert public.budget_alerts;
begin
  if pg_catalog.cardinality(teams) = 0 and pg_catalog.cardinality(gpts) = 0 then
    return;
  end if;
  for b in select * from public.budgets x
            where (x.gpt_id is null and x.team_id = any (teams)) or x.gpt_id = any (gpts) loop
    month_spent := analytics.month_spend(b.team_id, b.gpt_id, this_month);
    foreach level in array b.thresholds loop
      continue when month_spent < b.monthly_limit * level / 100.0;
      insert into public.budget_alerts
        (budget_id, team_id, gpt_id, period, threshold, spent, monthly_limit, currency,
         webhook_status)
      values (b.id, b.team_id, b.gpt_id, this_month, level, month_spent, b.monthly_limit,
              b.currency,
              case when b.webhook_url is null then 'none' else 'pending' end)
      on conflict (budget_id, period, threshold) do nothing
      returning * into alert;
      continue when alert.id is null;
      insert into public.audit_logs
        (user_id, team_id, action, resource_type, resource_id, details, ip_address, user_agent)
      values (null, b.team_id, 'budget.threshold_reached', 'budget', b.id,
        pg_catalog.jsonb_build_object(
          'alert_id', alert.id, 'gpt_id', b.gpt_id, 'period', this_month, 'threshold', level,
          'spent', month_spent, 'monthly_limit', b.monthly_limit, 'currency', b.currency,
          'hard_stop', b.hard_stop, 'triggered_by', auth.uid()),
        public.request_client_ip(), public.request_user_agent());
      alert := null;
    end loop;
  end loop;
end
$$;

-- The hard-stop budget a chat in this team with this GPT would exceed, or null:
-- {budget_id, scope: team|gpt, monthly_limit, spent, currency}. Read by gateway.open_turn.
create or replace function analytics.budget_block(team uuid, gpt uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
           'budget_id', b.id, 'scope', case when b.gpt_id is null then 'team' else 'gpt' end,
           'monthly_limit', b.monthly_limit, 'spent', s.spent, 'currency', b.currency)
    from public.budgets b,
         lateral (select analytics.month_spend(
                    b.team_id, b.gpt_id,
                    pg_catalog.date_trunc('month', now() at time zone 'UTC')::date) as spent) s
   where b.hard_stop
     and ((b.gpt_id is null and b.team_id = team) or b.gpt_id = gpt)
     and s.spent >= b.monthly_limit
   order by b.gpt_id nulls first
   limit 1
$$;

revoke execute on function analytics.month_spend(uuid, uuid, date),
  analytics.check_budgets(uuid[], uuid[]) from public, anon, authenticated, service_role;
revoke execute on function analytics.budget_block(uuid, uuid) from public, anon, service_role;
grant execute on function analytics.budget_block(uuid, uuid) to authenticated;

-- Webhook delivery, for the server's own role: claim up to `batch` due deliveries (a claim
-- left `sending` for 5 minutes by a stopped server is due again), then report each outcome.
-- A failure is retried after 10 s, 20 s, 40 s, 80 s; after the 5th attempt it stays failed.
create or replace function analytics.claim_budget_webhooks(batch integer)
returns setof jsonb
language sql
security definer
set search_path = ''
as $$
  update public.budget_alerts a
     set webhook_status = 'sending', webhook_attempts = a.webhook_attempts + 1,
         webhook_next_at = now() + interval '5 minutes'
    from public.budgets b
   where a.id in (select x.id from public.budget_alerts x
                   where x.webhook_status in ('pending', 'sending') and x.webhook_next_at <= now()
                   order by x.webhook_next_at
                   limit batch
                   for update skip locked)
     and b.id = a.budget_id and b.webhook_url is not null
  returning pg_catalog.jsonb_build_object(
    'alert_id', a.id, 'url', b.webhook_url, 'attempt', a.webhook_attempts,
    'payload', pg_catalog.jsonb_build_object(
      'type', 'budget.threshold_reached', 'alert_id', a.id, 'budget_id', a.budget_id,
      'team_id', a.team_id, 'gpt_id', a.gpt_id, 'period', a.period, 'threshold', a.threshold,
      'spent', a.spent, 'monthly_limit', a.monthly_limit, 'currency', a.currency,
      'hard_stop', b.hard_stop, 'at', a.created_at))
$$;

create or replace function analytics.finish_budget_webhook(alert_id uuid, delivered boolean, error text)
returns void
language sql
security definer
set search_path = ''
as $$
  update public.budget_alerts a
     set webhook_status = case when delivered then 'sent'
                               when a.webhook_attempts >= 5 then 'failed' else 'pending' end,
         webhook_error = case when delivered then null else left(error, 500) end,
         webhook_next_at = now() + pg_catalog.make_interval(secs => 10 * 2 ^ (a.webhook_attempts - 1))
   where a.id = alert_id and a.webhook_status = 'sending'
$$;

revoke execute on function analytics.claim_budget_webhooks(integer),
  analytics.finish_budget_webhook(uuid, boolean, text) from public, anon, authenticated, service_role;
grant usage on schema analytics to gptdesk_gateway;
grant execute on function analytics.claim_budget_webhooks(integer),
  analytics.finish_budget_webhook(uuid, boolean, text) to gptdesk_gateway;

-- Adds one usage row to the three rollups (`sign` 1) or takes it out (-1): three upserts
-- with plans PL/pgSQL keeps, a few tens of microseconds for the chat answer that records it.
-- A group left with no request is removed; the user's day bit follows the per-user rollup
-- (the users rollup is upserted last, so `left_requests` is the user's for that day).
create or replace function analytics.roll(u public.usage_analytics, sign integer)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  usage_day date := (u.created_at at time zone 'UTC')::date;
  bucket integer := analytics.response_bucket(u.response_time_ms);
  -- (named apart from the rollups' columns, which the upserts name too)
  failed integer := (coalesce(u.metrics ->> 'status', 'completed') <> 'completed')::integer;
  unpriced integer := (u.cost is null)::integer;
  prompts bigint := coalesce((u.metrics ->> 'prompt_tokens')::bigint, 0);
  completions bigint := coalesce((u.metrics ->> 'completion_tokens')::bigint, 0);
  day_bit bigint := 1::bigint << (extract(day from (u.created_at at time zone 'UTC'))::integer - 1);
  row_id bigint;
  left_requests integer;
begin
  insert into public.usage_daily_teams as t (day, team_id, requests, failed_requests, unpriced_requests, prompt_tokens, completion_tokens, cost, response_ms_sum, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19)
  values (usage_day, u.team_id,
          sign, sign * failed, sign * unpriced, sign * prompts, sign * completions, sign * coalesce(u.cost, 0), sign * u.response_time_ms,
          sign * (bucket = 0)::integer, sign * (bucket = 1)::integer, sign * (bucket = 2)::integer, sign * (bucket = 3)::integer, sign * (bucket = 4)::integer, sign * (bucket = 5)::integer, sign * (bucket = 6)::integer, sign * (bucket = 7)::integer, sign * (bucket = 8)::integer, sign * (bucket = 9)::integer, sign * (bucket = 10)::integer, sign * (bucket = 11)::integer, sign * (bucket = 12)::integer, sign * (bucket = 13)::integer, sign * (bucket = 14)::integer, sign * (bucket = 15)::integer, sign * (bucket = 16)::integer, sign * (bucket = 17)::integer, sign * (bucket = 18)::integer, sign * (bucket = 19)::integer)
  on conflict (day, team_id) do update
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
  returning t.id, t.requests into row_id, left_requests;
  if left_requests = 0 then
    delete from public.usage_daily_teams x where x.id = row_id;  -- a group no raw row is left in
  end if;
  insert into public.usage_daily_gpts as t (day, team_id, gpt_id, model, requests, failed_requests, unpriced_requests, prompt_tokens, completion_tokens, cost, response_ms_sum, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19)
  values (usage_day, u.team_id, u.gpt_id, u.metrics ->> 'model',
          sign, sign * failed, sign * unpriced, sign * prompts, sign * completions, sign * coalesce(u.cost, 0), sign * u.response_time_ms,
          sign * (bucket = 0)::integer, sign * (bucket = 1)::integer, sign * (bucket = 2)::integer, sign * (bucket = 3)::integer, sign * (bucket = 4)::integer, sign * (bucket = 5)::integer, sign * (bucket = 6)::integer, sign * (bucket = 7)::integer, sign * (bucket = 8)::integer, sign * (bucket = 9)::integer, sign * (bucket = 10)::integer, sign * (bucket = 11)::integer, sign * (bucket = 12)::integer, sign * (bucket = 13)::integer, sign * (bucket = 14)::integer, sign * (bucket = 15)::integer, sign * (bucket = 16)::integer, sign * (bucket = 17)::integer, sign * (bucket = 18)::integer, sign * (bucket = 19)::integer)
  on conflict (day, team_id, gpt_id, model) do update
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
  returning t.id, t.requests into row_id, left_requests;
  if left_requests = 0 then
    delete from public.usage_daily_gpts x where x.id = row_id;  -- a group no raw row is left in
  end if;
  insert into public.usage_daily_users as t (day, team_id, user_id, requests, failed_requests, unpriced_requests, prompt_tokens, completion_tokens, cost, response_ms_sum, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19)
  values (usage_day, u.team_id, u.user_id,
          sign, sign * failed, sign * unpriced, sign * prompts, sign * completions, sign * coalesce(u.cost, 0), sign * u.response_time_ms,
          sign * (bucket = 0)::integer, sign * (bucket = 1)::integer, sign * (bucket = 2)::integer, sign * (bucket = 3)::integer, sign * (bucket = 4)::integer, sign * (bucket = 5)::integer, sign * (bucket = 6)::integer, sign * (bucket = 7)::integer, sign * (bucket = 8)::integer, sign * (bucket = 9)::integer, sign * (bucket = 10)::integer, sign * (bucket = 11)::integer, sign * (bucket = 12)::integer, sign * (bucket = 13)::integer, sign * (bucket = 14)::integer, sign * (bucket = 15)::integer, sign * (bucket = 16)::integer, sign * (bucket = 17)::integer, sign * (bucket = 18)::integer, sign * (bucket = 19)::integer)
  on conflict (day, team_id, user_id) do update
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
  returning t.id, t.requests into row_id, left_requests;
  if left_requests = 0 then
    delete from public.usage_daily_users x where x.id = row_id;  -- a group no raw row is left in
  end if;
  -- the user's active days this month (dashboards count active users from these bits)
  if u.user_id is not null then
    insert into analytics.user_active_days as a (month, team_id, user_id, days)
    values (pg_catalog.date_trunc('month', usage_day)::date, u.team_id, u.user_id,
            case when left_requests > 0 then day_bit else 0 end)
    on conflict (month, team_id, user_id) do update
       set days = case when left_requests > 0 then a.days | day_bit else a.days & ~day_bit end;
  end if;
end
$$;

-- Keeps the rollups equal to the raw rows: an insert adds the row, a delete takes it out, an
-- update does both; a charged insert or update then checks the budgets it may have crossed.
create or replace function analytics.rollup_usage()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform analytics.roll(old, -1);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform analytics.roll(new, 1);
    if new.cost > 0 then
      perform analytics.check_budgets(array_remove(array[new.team_id], null),
                                      array_remove(array[new.gpt_id], null));
    end if;
  end if;
  return null;
end
$$;

revoke execute on function analytics.roll(public.usage_analytics, integer),
  analytics.rollup_usage() from public, anon, authenticated, service_role;

-- Row-level, not per statement with transition tables: those statements are planned again
-- on every run, about 1 ms for the single row a chat answer records.
drop trigger if exists rollup_usage_insert on public.usage_analytics;
drop trigger if exists rollup_usage_delete on public.usage_analytics;
drop trigger if exists rollup_usage_update_1_old on public.usage_analytics;
drop trigger if exists rollup_usage_update_2_new on public.usage_analytics;
drop function if exists analytics.add_usage();
drop function if exists analytics.remove_usage();
create or replace trigger rollup_usage after insert or update or delete on public.usage_analytics
  for each row execute function analytics.rollup_usage();

-- TRUNCATE fires no row or transition triggers: empty the rollups with it. Only the owner
-- may truncate the raw rows at all.
create or replace function analytics.clear_usage()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.usage_daily_teams;
  delete from public.usage_daily_gpts;
  delete from public.usage_daily_users;
  delete from analytics.user_active_days;
  return null;
end
$$;
revoke execute on function analytics.clear_usage() from public, anon, authenticated, service_role;
revoke truncate on public.usage_analytics from anon, authenticated, service_role;
drop trigger if exists rollup_usage_truncate on public.usage_analytics;
create trigger rollup_usage_truncate after truncate on public.usage_analytics
  for each statement execute function analytics.clear_usage();

-- Build the rollups from the rows already recorded (again from scratch on a re-run).
lock table public.usage_analytics in share mode;
delete from public.usage_daily_teams;
delete from public.usage_daily_gpts;
delete from public.usage_daily_users;
delete from analytics.user_active_days;
do $$
begin
  insert into public.usage_daily_teams as t (day, team_id, requests, failed_requests, unpriced_requests, prompt_tokens, completion_tokens, cost, response_ms_sum, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19)
    select (r.created_at at time zone 'UTC')::date, r.team_id,
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
     group by 1, 2
  on conflict (day, team_id) do update
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
          h19 = t.h19 + excluded.h19;
  insert into public.usage_daily_gpts as t (day, team_id, gpt_id, model, requests, failed_requests, unpriced_requests, prompt_tokens, completion_tokens, cost, response_ms_sum, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19)
    select (r.created_at at time zone 'UTC')::date, r.team_id, r.gpt_id, r.metrics ->> 'model',
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
     group by 1, 2, 3, 4
  on conflict (day, team_id, gpt_id, model) do update
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
          h19 = t.h19 + excluded.h19;
  insert into public.usage_daily_users as t (day, team_id, user_id, requests, failed_requests, unpriced_requests, prompt_tokens, completion_tokens, cost, response_ms_sum, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19)
    select (r.created_at at time zone 'UTC')::date, r.team_id, r.user_id,
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
     group by 1, 2, 3
  on conflict (day, team_id, user_id) do update
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
          h19 = t.h19 + excluded.h19;
  insert into analytics.user_active_days (month, team_id, user_id, days)
  select pg_catalog.date_trunc('month', r.day)::date, r.team_id, r.user_id,
         pg_catalog.bit_or(1::bigint << (extract(day from r.day)::integer - 1))
    from public.usage_daily_users r
   where r.user_id is not null and r.requests > 0
   group by 1, 2, 3;
end
$$;

select realtime.publish('public.budget_alerts');
