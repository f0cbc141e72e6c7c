-- 0017_chat_turns: the chat gateway's bookkeeping — one row per question put to a GPT —
-- and the two functions that open and close it around the call to the model.
--
-- A turn opens in the user's own request scope (role authenticated): gateway.open_turn()
-- is SECURITY INVOKER, so row-level security decides that the session is the caller's and
-- the GPT one they may see; it then checks the GPT is active and approved, stores the
-- user's message and a 'pending' turn, and hands back the GPT's configuration and as much
-- recent history as the prompt can hold. The model is called outside any transaction.
-- The turn closes as `gptdesk_gateway` (0016) with the user's claims: gateway.close_turn()
-- is SECURITY DEFINER and executable by that role alone, so no API role can write a GPT's
-- answer or charge usage; it checks that the turn is the caller's and still pending, then
-- stores the answer (only a complete one), the usage_analytics row priced by model_prices,
-- and the outcome, all in one transaction. A failed or cancelled turn keeps the user's
-- message with the failure recorded on it, and records what usage was charged.
--
-- The gateway schema is not exposed through /rest/v1 (only public is): these functions are
-- the server's, reached by its own SQL only.
--
-- An Idempotency-Key makes a retried request replay the stored outcome instead of calling
-- the model again: (user, key) is unique among pending and completed turns; a retry after
-- a failure runs again on the same user message.
--
-- Also here: usage_analytics.cost becomes nullable (null: the model had no price — recorded
-- as unpriced, never at a made-up rate); gpt_monthly_usage keeps each GPT's exact monthly
-- totals, from which gpts.monthly_cost (rounded to cents) follows; a session created
-- without a title takes one from its first message.
set local lock_timeout = '5s';

create schema if not exists gateway;
revoke all on schema gateway from public;
grant usage on schema gateway to authenticated, gptdesk_gateway;

alter table public.usage_analytics alter column cost drop not null;

-- Sessions: the title may be left out; the first user message supplies it.
alter table public.chat_sessions alter column title drop not null;

create or replace function public.title_session_from_message()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  words text := pg_catalog.btrim(pg_catalog.regexp_replace(new.content, '\s+', ' ', 'g'));
begin
  if new.sender = 'user' and words <> '' then
    update public.chat_sessions
       set title = case when pg_catalog.length(words) > 80
                        then pg_catalog.rtrim(pg_catalog.left(words, 79)) || '…'
                        else words end
     where id = new.session_id and title is null;
  end if;
  return null;
end
$$;

revoke execute on function public.title_session_from_message()
  from public, anon, authenticated, service_role;

create or replace trigger title_session_from_message
  after insert on public.chat_messages
  for each row execute function public.title_session_from_message();

-- ---------------------------------------------------------------------------------------
-- Exact monthly usage per GPT, kept by a trigger on usage_analytics.
-- ---------------------------------------------------------------------------------------

create table if not exists public.gpt_monthly_usage (
    gpt_id uuid not null references public.gpts (id) on delete cascade,
    month date not null check (extract(day from month) = 1),
    requests bigint not null default 0,
    prompt_tokens bigint not null default 0,
    completion_tokens bigint not null default 0,
    cost numeric(20, 8) not null default 0,
    unpriced_requests bigint not null default 0,
    updated_at timestamp with time zone not null default now(),
    primary key (gpt_id, month)
);

alter table public.gpt_monthly_usage enable row level security;
revoke all on public.gpt_monthly_usage from anon;
revoke insert, update, delete, truncate on public.gpt_monthly_usage from authenticated;
revoke truncate on public.gpt_monthly_usage from service_role;

-- Whoever sees a GPT sees what it costs (as gpts.monthly_cost already shows).
drop policy if exists "Users can view usage of GPTs they see" on public.gpt_monthly_usage;
create policy "Users can view usage of GPTs they see" on public.gpt_monthly_usage
  for select to authenticated
  using (exists (select from public.gpts g where g.id = gpt_monthly_usage.gpt_id));

-- Adds a usage row to its GPT's month, counts it in gpts.usage_count (only inserts count:
-- deleting old analytics rows must not lower a GPT's lifetime usage) and sets
-- gpts.monthly_cost to the month's total, in cents (the column's scale; capped at what it
-- holds). A GPT unused in a new month keeps
-- last month's figure until its first use; the monthly table has the exact history.
create or replace function public.count_gpt_monthly_usage()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  month_cost numeric;
begin
  if new.gpt_id is null then
    return null;
  end if;
  insert into public.gpt_monthly_usage as u
    (gpt_id, month, requests, prompt_tokens, completion_tokens, cost, unpriced_requests)
  values (
    new.gpt_id,
    pg_catalog.date_trunc('month', new.created_at)::date,
    1,
    coalesce((new.metrics ->> 'prompt_tokens')::bigint, 0),
    coalesce((new.metrics ->> 'completion_tokens')::bigint, 0),
    coalesce(new.cost, 0),
    case when new.cost is null then 1 else 0 end)
  on conflict (gpt_id, month) do update
    set requests = u.requests + 1,
        prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        cost = u.cost + excluded.cost,
        unpriced_requests = u.unpriced_requests + excluded.unpriced_requests,
        updated_at = now()
  returning u.cost into month_cost;
  -- one update of the GPT row per use: its lifetime count and, for this month, its cost
  update public.gpts
     set usage_count = usage_count + 1,
         monthly_cost = case
           when pg_catalog.date_trunc('month', new.created_at) = pg_catalog.date_trunc('month', now())
           then least(round(month_cost, 2), 99999999.99)
           else monthly_cost end
   where id = new.gpt_id;
  return null;
end
$$;

revoke execute on function public.count_gpt_monthly_usage()
  from public, anon, authenticated, service_role;

create or replace trigger count_gpt_monthly_usage
  after insert on public.usage_analytics
  for each row execute function public.count_gpt_monthly_usage();

-- count_gpt_monthly_usage() counts usage_count too, in the same update of the GPT row: the
-- separate counter of 0004 would update the row a second time for every answer.
drop trigger if exists count_gpt_usage on public.usage_analytics;
drop function if exists public.count_gpt_usage();

-- ---------------------------------------------------------------------------------------
-- Turns.
-- ---------------------------------------------------------------------------------------

create table if not exists public.chat_turns (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null default auth.uid() references public.users (id) on delete cascade,
    session_id uuid not null references public.chat_sessions (id) on delete cascade,
    gpt_id uuid references public.gpts (id) on delete set null,
    user_message_id uuid not null references public.chat_messages (id) on delete cascade,
    gpt_message_id uuid references public.chat_messages (id) on delete set null,
    idempotency_key varchar(255) check (btrim(idempotency_key) <> ''),
    request_hash text,
    status text not null default 'pending'
      check (status in ('pending', 'completed', 'failed', 'cancelled')),
    error jsonb,
    result jsonb,
    created_at timestamp with time zone not null default now(),
    finished_at timestamp with time zone
);

create unique index if not exists chat_turns_idempotency
  on public.chat_turns (user_id, idempotency_key)
  where idempotency_key is not null and status in ('pending', 'completed');
create index if not exists chat_turns_key_lookup
  on public.chat_turns (user_id, idempotency_key, created_at desc)
  where idempotency_key is not null;
create index if not exists chat_turns_session on public.chat_turns (session_id);
-- a user's sessions with one GPT (the OpenAI endpoint's API session is looked up so)
create index if not exists chat_sessions_user_gpt on public.chat_sessions (user_id, gpt_id);
create index if not exists chat_turns_pending on public.chat_turns (created_at)
  where status = 'pending';
create index if not exists chat_turns_user_message on public.chat_turns (user_message_id);
create index if not exists chat_turns_gpt_message on public.chat_turns (gpt_message_id);

alter table public.chat_turns enable row level security;
revoke all on public.chat_turns from anon;
revoke update, truncate on public.chat_turns from authenticated;
revoke truncate on public.chat_turns from service_role;

-- A user sees and removes their own turns and opens pending ones in their own sessions,
-- for the session's GPT (what gateway.open_turn does under these policies); only
-- close_turn finishes one.
drop policy if exists "Users can view their turns" on public.chat_turns;
create policy "Users can view their turns" on public.chat_turns
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists "Users can open turns in their sessions" on public.chat_turns;
create policy "Users can open turns in their sessions" on public.chat_turns
  for insert to authenticated
  with check (user_id = (select auth.uid())
              and status = 'pending' and gpt_message_id is null
              and error is null and result is null and finished_at is null
              and session_id in (select s.id from public.chat_sessions s
                                 where s.user_id = (select auth.uid()))
              and gpt_id is not distinct from (select s.gpt_id from public.chat_sessions s
                                               where s.id = chat_turns.session_id)
              and exists (select from public.chat_messages m
                          where m.id = chat_turns.user_message_id
                            and m.session_id = chat_turns.session_id
                            and m.sender = 'user'));

drop policy if exists "Users can delete their turns" on public.chat_turns;
create policy "Users can delete their turns" on public.chat_turns
  for delete to authenticated
  using (user_id = (select auth.uid()));


-- Opens a turn in the caller's `session_id`. Raises (and so writes nothing) with SQLSTATE
-- GDxyz, xyz the HTTP status, the stable error code as message and the explanation as
-- detail. Returns {turn, user_message, gpt, history} — history oldest first: the newest
-- messages (at most 500) that could fit the prompt (`context_windows` maps models to their
-- context, in tokens, '*' any other model; a token taken as 3 characters, less the
-- answer's max_tokens; none without a window) — or, for a retried idempotent request that
-- completed, {replay: the stored outcome}.
create or replace function gateway.open_turn(
  session_id uuid,
  content text,
  idempotency_key text default null,
  request_hash text default null,
  context_windows jsonb default '{}'::jsonb)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  s public.chat_sessions;
  g public.gpts;
  prior public.chat_turns;
  asked public.chat_messages;
  turn public.chat_turns;
  history jsonb;
  history_chars bigint;
begin
  select * into s from public.chat_sessions c where c.id = open_turn.session_id;
  if not found then
    raise exception using errcode = 'GD404', message = 'session_not_found',
      detail = 'No chat session with this id is yours';
  end if;
  if s.status <> 'active' then
    raise exception using errcode = 'GD409', message = 'session_closed',
      detail = pg_catalog.format('The session is %s; reopen it to chat', s.status);
  end if;
  if s.gpt_id is null then
    raise exception using errcode = 'GD409', message = 'session_has_no_gpt',
      detail = 'The session is not with a GPT';
  end if;
  select * into g from public.gpts x where x.id = s.gpt_id;
  if not found then
    raise exception using errcode = 'GD404', message = 'gpt_not_found',
      detail = 'The session''s GPT is not one you may use';
  end if;
  if g.status <> 'active' or g.approval_status <> 'approved' then
    raise exception using errcode = 'GD403', message = 'gpt_unavailable',
      detail = pg_catalog.format('The GPT is %s and %s; only active, approved GPTs answer',
                                 g.status, g.approval_status);
  end if;

  if open_turn.idempotency_key is not null then
    select * into prior from public.chat_turns t
     where t.user_id = auth.uid() and t.idempotency_key = open_turn.idempotency_key
     order by t.created_at desc
     limit 1;
    if found then
      if prior.request_hash is distinct from open_turn.request_hash
         or prior.session_id <> s.id then
        raise exception using errcode = 'GD422', message = 'idempotency_key_reused',
          detail = 'This Idempotency-Key was used for a different request';
      end if;
      if prior.status = 'completed' then
        return pg_catalog.jsonb_build_object('replay', prior.result);
      end if;
      if prior.status = 'pending' then
        raise exception using errcode = 'GD409', message = 'request_in_progress',
          detail = 'A request with this Idempotency-Key is still being answered';
      end if;
      -- failed or cancelled: answer again, on the message already stored
      select * into asked from public.chat_messages m where m.id = prior.user_message_id;
    end if;
  end if;

  if asked.id is null then
    insert into public.chat_messages (session_id, sender, content)
    values (s.id, 'user', open_turn.content)
    returning * into asked;
  end if;
  insert into public.chat_turns (session_id, gpt_id, user_message_id, idempotency_key, request_hash)
  values (s.id, g.id, asked.id, open_turn.idempotency_key, open_turn.request_hash)
  returning * into turn;

  history_chars := 3 * (coalesce((open_turn.context_windows ->> g.model)::bigint,
                                 (open_turn.context_windows ->> '*')::bigint, 0)
                        - g.max_tokens);
  history := '[]'::jsonb;
  if history_chars > 0 then
    select coalesce(pg_catalog.jsonb_agg(
             pg_catalog.jsonb_build_object('sender', h.sender, 'content', h.content)
             order by h.created_at, h.id), '[]'::jsonb)
      into history
      from (select m.id, m.sender, m.content, m.created_at,
                   sum(pg_catalog.length(m.content))
                     over (order by m.created_at desc, m.id desc) as running
              from public.chat_messages m
             where m.session_id = s.id and m.id <> asked.id and m.created_at <= asked.created_at
             order by m.created_at desc, m.id desc
             limit 500) h
     where h.running <= history_chars;
  end if;

  return pg_catalog.jsonb_build_object(
    'turn', pg_catalog.jsonb_build_object('id', turn.id, 'session_id', s.id),
    'user_message', pg_catalog.to_jsonb(asked),
    'gpt', pg_catalog.jsonb_build_object(
      'id', g.id, 'name', g.name, 'model', g.model, 'prompt', g.prompt,
      'temperature', g.temperature, 'max_tokens', g.max_tokens),
    'history', history);
end
$$;

-- The OpenAI-compatible endpoint's turn: the client sends the conversation, so the turn is
-- recorded in the caller's API session with `gpt_id` (one per user and GPT, made on first
-- use) and no history is read. Same checks, same errors as open_turn.
create or replace function gateway.open_api_turn(
  gpt_id uuid,
  content text,
  idempotency_key text default null,
  request_hash text default null)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  g public.gpts;
  session uuid;
begin
  select * into g from public.gpts x where x.id = open_api_turn.gpt_id;
  if not found then
    raise exception using errcode = 'GD404', message = 'gpt_not_found',
      detail = 'No GPT with this id is one you may use';
  end if;
  if g.status <> 'active' or g.approval_status <> 'approved' then
    raise exception using errcode = 'GD403', message = 'gpt_unavailable',
      detail = pg_catalog.format('The GPT is %s and %s; only active, approved GPTs answer',
                                 g.status, g.approval_status);
  end if;
  select s.id into session from public.chat_sessions s
   where s.user_id = (select auth.uid()) and s.gpt_id = g.id and s.status = 'active'
     and s.context ->> 'source' = 'openai-api'
   order by s.created_at
   limit 1;
  if session is null then
    insert into public.chat_sessions (title, gpt_id, context)
    values ('API: ' || g.name, g.id, '{"source": "openai-api"}'::jsonb)
    returning id into session;
  end if;
  return gateway.open_turn(session, open_api_turn.content, open_api_turn.idempotency_key,
                           open_api_turn.request_hash);
end
$$;

-- Closes the caller's pending turn with what the model did. `outcome`:
--   status             completed | failed | cancelled
--   content            the answer (completed only)
--   model, provider    the model as priced (the offline model's own for offline answers)
--   finish_reason, prompt_tokens, completion_tokens, usage_reported, response_time_ms
--   error              {code, message} (failed, cancelled)
-- Returns the outcome as the API presents it: {turn_id, status, user_message, message,
-- usage, cost, currency, priced, error}; the same is kept on the turn for replays.
create or replace function gateway.close_turn(turn_id uuid, outcome jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.chat_turns;
  state text := outcome ->> 'status';
  prompt_tokens integer := coalesce((outcome ->> 'prompt_tokens')::integer, 0);
  completion_tokens integer := coalesce((outcome ->> 'completion_tokens')::integer, 0);
  response_time integer := greatest(coalesce((outcome ->> 'response_time_ms')::integer, 0), 0);
  price public.model_prices;
  cost numeric;
  answer public.chat_messages;
  asked public.chat_messages;
  failure jsonb;
  presented jsonb;
begin
  select * into t from public.chat_turns x where x.id = close_turn.turn_id for update;
  if not found or t.user_id is distinct from auth.uid() then
    raise exception using errcode = 'GD404', message = 'turn_not_found',
      detail = 'No pending turn with this id is yours';
  end if;
  if t.status <> 'pending' then
    raise exception using errcode = 'GD409', message = 'turn_closed',
      detail = pg_catalog.format('The turn is already %s', t.status);
  end if;
  if state is null or state not in ('completed', 'failed', 'cancelled') then
    raise exception using errcode = '22023', message = 'invalid outcome status';
  end if;
  if prompt_tokens < 0 or completion_tokens < 0 then
    raise exception using errcode = '22023', message = 'token counts cannot be negative';
  end if;

  price := public.price_of(outcome ->> 'model', now());
  if price.id is not null then
    cost := (prompt_tokens * price.input_per_million
             + completion_tokens * price.output_per_million) / 1000000;
  end if;

  if state = 'completed' then
    insert into public.chat_messages
      (session_id, sender, content, metadata, tokens_used, response_time_ms)
    values (
      t.session_id, 'gpt', coalesce(outcome ->> 'content', ''),
      pg_catalog.jsonb_build_object(
        'model', outcome ->> 'model', 'provider', outcome ->> 'provider',
        'finish_reason', outcome ->> 'finish_reason',
        'prompt_tokens', prompt_tokens, 'completion_tokens', completion_tokens,
        'cost', cost, 'currency', price.currency, 'priced', price.id is not null,
        'turn_id', t.id),
      prompt_tokens + completion_tokens, response_time)
    returning * into answer;
    update public.chat_messages m set metadata = m.metadata - 'failure'
     where m.id = t.user_message_id and m.metadata ? 'failure'
    returning * into asked;
  else
    failure := coalesce(outcome -> 'error', '{}'::jsonb)
               || pg_catalog.jsonb_build_object('status', state, 'turn_id', t.id, 'at', now());
    update public.chat_messages m
       set metadata = m.metadata || pg_catalog.jsonb_build_object('failure', failure)
     where m.id = t.user_message_id
    returning * into asked;
  end if;
  if asked.id is null then
    select * into asked from public.chat_messages m where m.id = t.user_message_id;
  end if;

  if state = 'completed' or prompt_tokens + completion_tokens > 0 then
    insert into public.usage_analytics
      (user_id, gpt_id, session_id, team_id, tokens_used, response_time_ms, cost, metrics)
    values (
      t.user_id, t.gpt_id, t.session_id, public.get_user_team_id(t.user_id),
      prompt_tokens + completion_tokens, response_time, cost,
      pg_catalog.jsonb_build_object(
        'model', outcome ->> 'model', 'provider', outcome ->> 'provider',
        'prompt_tokens', prompt_tokens, 'completion_tokens', completion_tokens,
        'priced', price.id is not null, 'currency', price.currency,
        'status', state, 'finish_reason', outcome ->> 'finish_reason',
        'usage_reported', coalesce((outcome ->> 'usage_reported')::boolean, false),
        'turn_id', t.id));
  end if;

  presented := pg_catalog.jsonb_build_object(
    'turn_id', t.id,
    'status', state,
    'user_message', pg_catalog.to_jsonb(asked),
    'message', case when answer.id is not null then pg_catalog.to_jsonb(answer) end,
    'usage', pg_catalog.jsonb_build_object(
      'prompt_tokens', prompt_tokens, 'completion_tokens', completion_tokens,
      'total_tokens', prompt_tokens + completion_tokens),
    'cost', cost,
    'currency', price.currency,
    'priced', price.id is not null,
    'error', failure);
  update public.chat_turns x
     set status = state, gpt_message_id = answer.id, error = failure, result = presented,
         finished_at = now()
   where x.id = t.id;
  return presented;
end
$$;

revoke all on function gateway.open_turn(uuid, text, text, text, jsonb) from public;
revoke all on function gateway.open_api_turn(uuid, text, text, text) from public;
revoke all on function gateway.close_turn(uuid, jsonb) from public;
grant execute on function gateway.open_turn(uuid, text, text, text, jsonb) to authenticated;
grant execute on function gateway.open_api_turn(uuid, text, text, text) to authenticated;
grant execute on function gateway.close_turn(uuid, jsonb) to gptdesk_gateway;

-- Turns left pending longer than `older_than` were abandoned (the server stopped while the
-- model answered): closed as failed, the failure recorded on the question, so a retry with
-- the same Idempotency-Key runs again instead of waiting forever. The server runs this at
-- start and every few minutes; nothing was charged that it knows of.
create or replace function gateway.abandon_stale_turns(older_than interval)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  closed integer;
begin
  with stale as (
    update public.chat_turns t
       set status = 'failed', finished_at = now(),
           error = pg_catalog.jsonb_build_object(
             'code', 'abandoned', 'status', 'failed', 'turn_id', t.id, 'at', now(),
             'message', 'the server stopped before the answer was complete')
     where t.status = 'pending' and t.created_at < now() - abandon_stale_turns.older_than
    returning t.user_message_id, t.error
  )
  update public.chat_messages m
     set metadata = m.metadata || pg_catalog.jsonb_build_object('failure', stale.error)
    from stale
   where m.id = stale.user_message_id;
  get diagnostics closed = row_count;
  return closed;
end
$$;

revoke all on function gateway.abandon_stale_turns(interval) from public;
grant execute on function gateway.abandon_stale_turns(interval) to gptdesk_gateway;
