-- 0004_functions: the seed's helper functions; the triggers that keep derived columns right,
-- create profiles for new sign-ins and guard the columns a request role may not change; and
-- the SECURITY DEFINER entry points request roles use instead of direct writes
-- (log_action, remove_team_member).
--
-- Helpers and counter triggers are SECURITY DEFINER with an empty search_path (everything
-- schema-qualified): policies call the helpers as the request role, and a counter must be
-- kept whoever writes the row, even a writer who cannot see the row the counter lives on.
--
-- Guards are SECURITY INVOKER on purpose: they read current_user to tell a request role
-- (anon, authenticated) from trusted writers — service_role, the owner, and SECURITY DEFINER
-- code, inside which current_user is the function's owner. A guard refuses with SQLSTATE
-- 42501 (insufficient_privilege), as a policy would. They look the actor up with the helpers
-- only for authenticated: anon has no actor, and may not call the helpers (see the end of
-- this file), so an anonymous write is left to the row policies, which refuse it with 42501.
--
-- Who may call what is settled at the end of this file: every function created here starts
-- executable by PUBLIC (PostgreSQL's default) and by the API roles (0001's default
-- privileges), and most are then taken back.
set local lock_timeout = '5s';

-- ---------------------------------------------------------------------------------------
-- Helpers (the seed's). They read public.users as the owner, so policies on users can call
-- them without recursing into users' own policies.
-- ---------------------------------------------------------------------------------------

create or replace function public.get_user_role(user_uuid uuid)
returns public.user_role
language sql
stable
security definer
set search_path = ''
as $$
  select u.role from public.users u where u.id = user_uuid
$$;

create or replace function public.get_user_team_id(user_uuid uuid)
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
  select u.team_id from public.users u where u.id = user_uuid
$$;

create or replace function public.is_admin_or_super(user_uuid uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(
    (select u.role in ('admin', 'super_admin') from public.users u where u.id = user_uuid),
    false)
$$;

create or replace function public.is_super_admin(user_uuid uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(
    (select u.role = 'super_admin' from public.users u where u.id = user_uuid),
    false)
$$;

-- ---------------------------------------------------------------------------------------
-- updated_at on every table that has it.
-- ---------------------------------------------------------------------------------------

create or replace function public.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

create or replace trigger set_updated_at before update on public.teams
  for each row execute function public.set_updated_at();
create or replace trigger set_updated_at before update on public.users
  for each row execute function public.set_updated_at();
create or replace trigger set_updated_at before update on public.gpts
  for each row execute function public.set_updated_at();
create or replace trigger set_updated_at before update on public.chat_sessions
  for each row execute function public.set_updated_at();
create or replace trigger set_updated_at before update on public.documents
  for each row execute function public.set_updated_at();
create or replace trigger set_updated_at before update on public.gpt_ratings
  for each row execute function public.set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Counters kept by the database: request roles may not set them (a guard), triggers running
-- as the owner keep them. Increments, not recounts: an UPDATE … set n = n + 1 re-reads the
-- newest row version, so concurrent writers never lose a count.
-- ---------------------------------------------------------------------------------------

-- Refuses a request role's insert with a non-zero value, or update that changes the value,
-- of each column named in the trigger's arguments.
create or replace function public.guard_derived_columns()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  col text;
begin
  if current_user not in ('anon', 'authenticated') then
    return new;
  end if;
  foreach col in array tg_argv loop
    if (tg_op = 'INSERT' and coalesce((pg_catalog.to_jsonb(new) ->> col)::numeric, 0) <> 0)
       or (tg_op = 'UPDATE'
           and (pg_catalog.to_jsonb(new) -> col) is distinct from (pg_catalog.to_jsonb(old) -> col))
    then
      raise exception using
        errcode = '42501',
        message = pg_catalog.format('%s.%s is maintained by the database', tg_table_name, col),
        hint = 'Leave the column out of the request.';
    end if;
  end loop;
  return new;
end
$$;

create or replace trigger guard_derived_columns before insert or update on public.teams
  for each row execute function public.guard_derived_columns('member_count');
create or replace trigger guard_derived_columns before insert or update on public.chat_sessions
  for each row execute function public.guard_derived_columns('message_count');

-- teams.member_count follows users.team_id.
create or replace function public.maintain_team_member_count()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and old.team_id is not null
     and (tg_op = 'DELETE' or new.team_id is distinct from old.team_id) then
    update public.teams set member_count = greatest(member_count - 1, 0) where id = old.team_id;
  end if;
  if tg_op in ('INSERT', 'UPDATE') and new.team_id is not null
     and (tg_op = 'INSERT' or new.team_id is distinct from old.team_id) then
    update public.teams set member_count = member_count + 1 where id = new.team_id;
  end if;
  return null;
end
$$;

create or replace trigger maintain_team_member_count
  after insert or delete or update of team_id on public.users
  for each row execute function public.maintain_team_member_count();

-- chat_sessions.message_count follows chat_messages.
create or replace function public.maintain_session_message_count()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    update public.chat_sessions set message_count = message_count + 1 where id = new.session_id;
  elsif tg_op = 'DELETE' then
    update public.chat_sessions set message_count = greatest(message_count - 1, 0)
     where id = old.session_id;
  elsif new.session_id is distinct from old.session_id then
    update public.chat_sessions set message_count = greatest(message_count - 1, 0)
     where id = old.session_id;
    update public.chat_sessions set message_count = message_count + 1 where id = new.session_id;
  end if;
  return null;
end
$$;

create or replace trigger maintain_session_message_count
  after insert or delete or update of session_id on public.chat_messages
  for each row execute function public.maintain_session_message_count();

-- gpts.rating is the average of gpt_ratings, to two decimals (0 when unrated). The GPT row
-- is locked first so that the average, read by the next statement with a fresh snapshot,
-- includes any rating committed concurrently.
create or replace function public.refresh_gpt_rating(target uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform 1 from public.gpts where id = target for update;
  update public.gpts
     set rating = coalesce(
       (select round(avg(r.rating), 2) from public.gpt_ratings r where r.gpt_id = target), 0)
   where id = target;
end
$$;

create or replace function public.maintain_gpt_rating()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('INSERT', 'UPDATE') then
    perform public.refresh_gpt_rating(new.gpt_id);
  end if;
  if tg_op = 'DELETE' or (tg_op = 'UPDATE' and new.gpt_id is distinct from old.gpt_id) then
    perform public.refresh_gpt_rating(old.gpt_id);
  end if;
  return null;
end
$$;

create or replace trigger maintain_gpt_rating
  after insert or delete or update of gpt_id, rating on public.gpt_ratings
  for each row execute function public.maintain_gpt_rating();

-- gpts.usage_count counts metered uses (usage_analytics rows). Only inserts count: deleting
-- old analytics rows (retention) must not lower a GPT's lifetime usage.
create or replace function public.count_gpt_usage()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.gpt_id is not null then
    update public.gpts set usage_count = usage_count + 1 where id = new.gpt_id;
  end if;
  return null;
end
$$;

create or replace trigger count_gpt_usage
  after insert on public.usage_analytics
  for each row execute function public.count_gpt_usage();

-- ---------------------------------------------------------------------------------------
-- Profiles follow auth.users.
-- ---------------------------------------------------------------------------------------

-- A new sign-in identity gets its profile. role and team_id come only from
-- raw_app_meta_data, which the auth service alone writes (invitations); raw_user_meta_data is
-- the user's own and supplies just the display name. Identities without an email (phone-only,
-- anonymous) get no profile until an email is set (see sync_user_email below), because a
-- profile's email is required and unique.
create or replace function public.create_profile(identity auth.users)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  app jsonb := coalesce(identity.raw_app_meta_data, '{}'::jsonb);
  meta jsonb := coalesce(identity.raw_user_meta_data, '{}'::jsonb);
  wanted_role public.user_role := 'user';
  wanted_team uuid;
begin
  if identity.email is null or identity.email = '' then
    return;
  end if;
  if app ->> 'role' in ('user', 'admin', 'super_admin') then
    wanted_role := (app ->> 'role')::public.user_role;
  end if;
  if app ->> 'team_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    -- an invitation to a team deleted since leaves the user teamless rather than failing
    select t.id into wanted_team from public.teams t where t.id = (app ->> 'team_id')::uuid;
  end if;
  insert into public.users (id, email, full_name, role, team_id)
  values (
    identity.id,
    identity.email,
    coalesce(
      nullif(btrim(meta ->> 'full_name'), ''),
      nullif(btrim(meta ->> 'name'), ''),
      nullif(btrim(split_part(identity.email, '@', 1)), ''),
      identity.email),
    wanted_role,
    wanted_team)
  on conflict (id) do nothing;
end
$$;

-- Anyone able to call create_profile() could hand it a forged identity with a chosen role.
revoke execute on function public.create_profile(auth.users)
  from public, anon, authenticated, service_role;

create or replace function public.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.create_profile(new);
  return new;
end
$$;

create or replace trigger on_auth_user_created
  after insert on auth.users
  for each row execute function public.handle_new_user();

-- A changed (confirmed) sign-in address is copied to the profile; an identity that gets its
-- first address gets its profile now.
create or replace function public.sync_user_email()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.email is null or new.email = '' then
    return new;
  end if;
  update public.users set email = new.email where id = new.id;
  if not found then
    perform public.create_profile(new);
  end if;
  return new;
end
$$;

create or replace trigger on_auth_user_email_changed
  after update of email on auth.users
  for each row
  when (new.email is distinct from old.email)
  execute function public.sync_user_email();

-- ---------------------------------------------------------------------------------------
-- Guards: what a request role may change beyond what its row policies allow.
-- ---------------------------------------------------------------------------------------

-- Profiles. A user edits their own profile but not their role, team, status or email (the
-- email follows auth.users; letting a user claim another address in this unique column would
-- block that address's sign-up). A team admin may, for members of their team, grant or take
-- the admin role (never super_admin; a super admin's rows are left alone), change the status,
-- and remove the member from the team (through remove_team_member(), below: RLS keeps a
-- plain UPDATE from making a row its writer cannot see). A super admin may change anything.
create or replace function public.guard_user_changes()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  actor uuid;
  actor_role public.user_role;
  actor_team uuid;
begin
  if current_user not in ('anon', 'authenticated') then
    return new;
  end if;
  if (new.role, new.team_id, new.status, new.email)
     is not distinct from (old.role, old.team_id, old.status, old.email) then
    return new;
  end if;
  if current_user = 'authenticated' then  -- anon has no actor (nor the helpers' EXECUTE)
    actor := auth.uid();
    actor_role := public.get_user_role(actor);
    actor_team := public.get_user_team_id(actor);
  end if;
  if actor_role = 'super_admin' then
    return new;
  end if;
  if actor_role = 'admin' and old.team_id = actor_team then
    if new.email is distinct from old.email then
      raise exception using
        errcode = '42501',
        message = 'a profile''s email follows its sign-in address and cannot be changed here';
    end if;
    if old.role = 'super_admin' then
      raise exception using
        errcode = '42501',
        message = 'only super admins may change a super admin''s role, team or status';
    end if;
    if new.role = 'super_admin' then
      raise exception using
        errcode = '42501',
        message = 'team admins may grant or remove only the admin role',
        hint = 'Ask a super admin to change super admin rights.';
    end if;
    if new.team_id is distinct from old.team_id and new.team_id is not null then
      raise exception using
        errcode = '42501',
        message = 'team admins may remove members from their team but not move them to another',
        hint = 'Use remove_team_member(), or ask a super admin.';
    end if;
    return new;
  end if;
  raise exception using
    errcode = '42501',
    message = 'only team admins and super admins may change a user''s role, team, status or email',
    detail = pg_catalog.format('user %s', old.id);
end
$$;

create or replace trigger guard_user_changes before update on public.users
  for each row execute function public.guard_user_changes();

-- GPTs. The governance columns — approval_status, risk_level, compliance_score, monthly_cost,
-- usage_count, rating — are set by admins of the GPT's team, super admins and trusted code
-- (the rating and usage triggers, service_role). A GPT created by anyone else starts with the
-- governance columns at their defaults, which puts it in the approval queue ('pending').
create or replace function public.guard_gpt_governance()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  actor uuid;
  actor_role public.user_role;
  actor_team uuid;
begin
  if current_user not in ('anon', 'authenticated') then
    return new;
  end if;
  if tg_op = 'UPDATE'
     and (new.approval_status, new.risk_level, new.compliance_score, new.monthly_cost,
          new.usage_count, new.rating)
         is not distinct from
         (old.approval_status, old.risk_level, old.compliance_score, old.monthly_cost,
          old.usage_count, old.rating) then
    return new;
  end if;
  if current_user = 'authenticated' then  -- anon has no actor (nor the helpers' EXECUTE)
    actor := auth.uid();
    actor_role := public.get_user_role(actor);
    actor_team := public.get_user_team_id(actor);
  end if;
  if actor_role = 'super_admin'
     or (actor_role = 'admin' and new.team_id = actor_team
         and (tg_op = 'INSERT' or old.team_id = actor_team)) then
    return new;
  end if;
  if tg_op = 'INSERT' then
    -- the column defaults of public.gpts
    new.approval_status := 'pending';
    new.risk_level := 'low';
    new.compliance_score := 0;
    new.monthly_cost := 0;
    new.usage_count := 0;
    new.rating := 0;
    return new;
  end if;
  raise exception using
    errcode = '42501',
    message = 'only admins of the GPT''s team and super admins may change its governance fields',
    detail = 'approval_status, risk_level, compliance_score, monthly_cost, usage_count and rating',
    hint = 'Ask a team admin to review the GPT.';
end
$$;

create or replace trigger guard_gpt_governance before insert or update on public.gpts
  for each row execute function public.guard_gpt_governance();

-- ---------------------------------------------------------------------------------------
-- Audit: the one way request roles write audit_logs.
-- ---------------------------------------------------------------------------------------

-- What audit rows record of the request, as the request scope set it: the peer address
-- (never a client header) and the user agent. Unusable values (a unix-socket peer, a host
-- name, headers that are not a JSON object) record as null instead of failing the change.
create or replace function public.request_client_ip()
returns inet
language plpgsql
stable
set search_path = ''
as $$
begin
  return nullif(btrim(current_setting('request.client_ip', true)), '')::inet;
exception when data_exception then
  return null;
end
$$;

create or replace function public.request_user_agent()
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  headers jsonb;
begin
  -- assigned here, not in declare, so a malformed value reaches the handler below
  headers := nullif(current_setting('request.headers', true), '')::jsonb;
  if pg_catalog.jsonb_typeof(headers) = 'object' then
    return headers ->> 'user-agent';
  end if;
  return null;
exception when data_exception then
  return null;
end
$$;

-- Only the SECURITY DEFINER audit writers (running as the owner) call these.
revoke execute on function public.request_client_ip(), public.request_user_agent()
  from public, anon, authenticated, service_role;

-- Records an action by the signed-in user. The actor comes from the JWT and the team from the
-- actor's profile; neither can be chosen by the caller. The client address comes only from
-- `request.client_ip`, which the request scope sets to the peer address the server resolved
-- (uvicorn, honouring forwarding headers from trusted proxies alone): never from
-- x-forwarded-for or x-real-ip in `request.headers`, which any client can send. An empty,
-- missing or unparsable address is recorded as null. The user agent is the request's
-- user-agent header, as the client sent it. Returns the new row's id.
create or replace function public.log_action(
  action text,
  resource_type text,
  resource_id uuid default null,
  details jsonb default '{}'::jsonb)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  actor uuid := auth.uid();
  profile_id uuid;
  profile_team uuid;
  extra jsonb := coalesce(log_action.details, '{}'::jsonb);
  new_id uuid;
begin
  if nullif(btrim(log_action.action), '') is null
     or nullif(btrim(log_action.resource_type), '') is null then
    raise exception using
      errcode = '22023',
      message = 'log_action needs an action and a resource type';
  end if;
  select u.id, u.team_id into profile_id, profile_team from public.users u where u.id = actor;
  if actor is not null and profile_id is null then
    -- a token whose profile is gone: keep who it was without breaking the foreign key
    extra := extra || pg_catalog.jsonb_build_object('actor_id', actor);
  end if;
  insert into public.audit_logs
    (user_id, team_id, action, resource_type, resource_id, details, ip_address, user_agent)
  values
    (profile_id, profile_team, log_action.action, log_action.resource_type,
     log_action.resource_id, extra, public.request_client_ip(), public.request_user_agent())
  returning id into new_id;
  return new_id;
end
$$;

revoke execute on function public.log_action(text, text, uuid, jsonb) from public, anon;
grant execute on function public.log_action(text, text, uuid, jsonb) to authenticated, service_role;

-- Takes a member out of their team. A team admin cannot do this with a plain UPDATE: when an
-- UPDATE reads the row (any WHERE clause does), PostgreSQL also checks the new row against
-- the SELECT policies, and a teamless profile is no longer visible to the admin. So the
-- removal goes through here, with the guard's rules: the caller must be an admin of the
-- member's team (or a super admin, or the server's service_role), and a super admin's
-- membership is for super admins to change. Audited in the same transaction.
create or replace function public.remove_team_member(member_id uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  actor uuid := auth.uid();
  actor_role public.user_role := public.get_user_role(auth.uid());
  member public.users;
begin
  select * into member from public.users u where u.id = member_id for update;
  if not found or member.team_id is null then
    raise exception using
      errcode = '42501',
      message = 'no such member of a team you administer',
      detail = pg_catalog.format('user %s', member_id);
  end if;
  if not (auth.role() = 'service_role'
          or actor_role = 'super_admin'
          or (actor_role = 'admin'
              and member.team_id = public.get_user_team_id(actor)
              and member.role <> 'super_admin')) then
    raise exception using
      errcode = '42501',
      message = 'no such member of a team you administer',
      detail = pg_catalog.format('user %s', member_id);
  end if;
  update public.users set team_id = null where id = member_id;
  if actor is not null then
    perform public.log_action('user.removed_from_team', 'user', member_id,
                              pg_catalog.jsonb_build_object('team_id', member.team_id));
  end if;
end
$$;

revoke execute on function public.remove_team_member(uuid) from public, anon;
grant execute on function public.remove_team_member(uuid) to authenticated, service_role;

-- Internal: recomputes a rating; reachable only through the ratings trigger.
revoke execute on function public.refresh_gpt_rating(uuid)
  from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Who may call what. Functions created here start executable by PUBLIC (PostgreSQL's
-- default) and by anon, authenticated and service_role (0001's default privileges); only
-- what a role needs is kept. create or replace keeps these privileges when the file runs
-- again. (auth.uid(), auth.role(), auth.jwt() and auth.email() stay callable by all three
-- API roles: see 0002.)
-- ---------------------------------------------------------------------------------------

-- The seed's helpers are SECURITY DEFINER readers of any profile: callable by anyone, they
-- would tell an anonymous client the role and team of any user id. The policies that call
-- them are all `to authenticated`, the guards call them only for authenticated, and the
-- server (service_role) may use them.
revoke execute on function
  public.get_user_role(uuid), public.get_user_team_id(uuid),
  public.is_admin_or_super(uuid), public.is_super_admin(uuid)
  from public, anon;
grant execute on function
  public.get_user_role(uuid), public.get_user_team_id(uuid),
  public.is_admin_or_super(uuid), public.is_super_admin(uuid)
  to authenticated, service_role;

-- Trigger functions cannot be called except as triggers, and a trigger runs its function
-- whatever the writer's EXECUTE privilege (PostgreSQL checks it only when the trigger is
-- created), so no role needs it.
revoke execute on function
  public.set_updated_at(), public.guard_derived_columns(),
  public.maintain_team_member_count(), public.maintain_session_message_count(),
  public.maintain_gpt_rating(), public.count_gpt_usage(),
  public.handle_new_user(), public.sync_user_email(),
  public.guard_user_changes(), public.guard_gpt_governance()
  from public, anon, authenticated, service_role;
