-- 0023_governance: the GPT approval workflow, risk and compliance scoring, and the chat
-- gateway's use of both (and of budgets' hard stop).
--
-- Versions. Every change to a GPT's configuration (name, description, category, prompt,
-- model, temperature, max_tokens, web_access, is_public, access_level) makes a new row in
-- gpt_versions, a snapshot; gpts.version is the newest, gpts.approved_version the one chats
-- use. A change to what reviewers judge — prompt, model, web access, exposure (is_public,
-- access_level) — or one that raises the risk level sends the GPT back to `pending`, while
-- the previously approved version keeps answering until the new one is approved. Other
-- changes of an approved GPT are approved with it. Rollback makes an earlier approved
-- version current again (as a new version, approved at once).
--
-- Who reviews. The GPT's team admins; super admins when the version is public, has
-- organization access or high risk. Nobody but a super admin approves a version holding a
-- change they made since the last approved version.
-- Every transition is a SECURITY DEFINER function here with explicit checks (approve_gpt,
-- reject_gpt, suspend_gpt, reinstate_gpt, rollback_gpt, override_gpt_risk), callable through
-- /rest/v1/rpc and /api/v1/gpts/{id}/…, audited in the same transaction; a refused attempt
-- raises PT403/PT409 (PostgREST's status) with a stable code as the detail, and the server
-- records the refusal (governance.record_refusal) after the rollback.
--
-- Scoring. governance.assess holds every rule in one list: each has a code, whether it
-- applies, risk points, a compliance penalty and the reason shown to reviewers. The sum of
-- points gives the level (0-1 low, 2-3 medium, 4+ high), 100 less the penalties the score.
-- It runs on every change; an admin's override (with a justification, audited) holds until
-- the configuration changes.
--
-- Request roles can no longer write approval_status, risk_level, compliance_score or the
-- new governance columns, nor suspend or reinstate by writing status: guard_gpt_governance
-- is replaced. Trusted writers (the owner, service_role) may still set approval_status,
-- which approves or rejects the current version (seeding, imports), and their changes keep
-- the approval the GPT had: they are the operator, as service_role is past RLS.
set local lock_timeout = '5s';

create schema if not exists governance;
revoke all on schema governance from public;
-- anon too: its writes to gpts are refused by RLS, after the (invoker) trigger has run
grant usage on schema governance to anon, authenticated, service_role;

alter table public.gpts
  add column if not exists version integer not null default 1,
  add column if not exists approved_version integer,
  add column if not exists published boolean not null default false,
  add column if not exists risk_reasons jsonb not null default '[]'::jsonb,
  add column if not exists risk_override jsonb,
  add column if not exists reviewer text not null default 'team_admin'
    check (reviewer in ('team_admin', 'super_admin'));

create table if not exists public.gpt_versions (
    id uuid primary key default gen_random_uuid(),
    gpt_id uuid not null references public.gpts (id) on delete cascade,
    version integer not null check (version > 0),
    name varchar(255) not null,
    description text,
    category varchar(100),
    prompt text,
    model varchar(100) not null,
    temperature decimal(3, 2) not null,
    max_tokens integer not null,
    web_access boolean not null,
    is_public boolean not null,
    access_level public.access_level not null,
    status text not null default 'pending'
      check (status in ('pending', 'approved', 'rejected', 'superseded')),
    risk_level public.risk_level not null,
    compliance_score integer not null,
    risk_reasons jsonb not null default '[]'::jsonb,
    reviewer text not null,
    created_by uuid,
    created_at timestamp with time zone not null default now(),
    reviewed_by uuid,
    reviewed_at timestamp with time zone,
    review_comment text,
    ever_approved boolean not null default false,
    rollback_of integer,
    unique (gpt_id, version)
);

alter table public.gpt_versions enable row level security;
revoke all on public.gpt_versions from anon;
revoke insert, update, delete, truncate on public.gpt_versions from authenticated, service_role;

-- Whoever sees a GPT sees its versions and their reviews.
drop policy if exists "Users can view versions of GPTs they see" on public.gpt_versions;
create policy "Users can view versions of GPTs they see" on public.gpt_versions
  for select to authenticated
  using (exists (select from public.gpts g where g.id = gpt_versions.gpt_id));

-- ---------------------------------------------------------------------------------------
-- Scoring: every rule in one place.
-- ---------------------------------------------------------------------------------------
create or replace function governance.assess(
  description text, category text, prompt text, model text, temperature numeric,
  web_access boolean, is_public boolean, access_level public.access_level)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  with rules (code, applies, risk_points, compliance_penalty, reason) as (values
    ('web_access', web_access, 2, 10,
     'Browses the web: answers can carry unvetted outside content'),
    ('public', is_public, 3, 10,
     'Public: every signed-in user of every team can use it'),
    ('organization_access', access_level = 'organization', 2, 5,
     'Organization access: every team can use it'),
    ('unpriced_model',
     not exists (select from public.model_prices p where p.model = assess.model), 1, 10,
     'The model has no price in the catalogue: its cost cannot be tracked'),
    ('frontier_model',
     model ~* '^(gpt-4|gpt-5|o1|o3|o4|claude-(3-)?opus|claude-opus|gemini-[0-9.]+-(pro|ultra))'
       and model !~* '(mini|nano|haiku|flash|small|lite)', 1, 0,
     'Frontier model class: the most capable and most expensive per token'),
    ('high_temperature', temperature > 1.2, 1, 5,
     'Temperature above 1.2: answers are less predictable'),
    ('personal_data',
     coalesce(prompt, '') ~* ('\m(social security|ssn|passport|date of birth|birth ?date|'
       || 'credit card|card number|bank account|iban|home address|phone number|'
       || 'medical|health record|diagnos\w*|national id|tax id|salary|salaries)\M'), 4, 25,
     'The prompt asks for or handles personal data'),
    ('secrets',
     coalesce(prompt, '') ~* ('\m(passwords?|passphrases?|api[ _-]?keys?|secret keys?|secrets|'
       || 'access tokens?|private keys?|credentials)\M'), 4, 25,
     'The prompt asks for or handles secrets'),
    ('no_prompt', coalesce(prompt, '') ~ '^\s*$', 0, 15,
     'No system prompt: the GPT behaves as the bare model'),
    ('no_description', coalesce(description, '') ~ '^\s*$', 0, 10,
     'No description: users cannot tell what it is for'),
    ('no_category', coalesce(category, '') ~ '^\s*$', 0, 5,
     'No category')
  ),
  applied as (select * from rules where applies)
  select pg_catalog.jsonb_build_object(
    'risk_level', case when coalesce(sum(risk_points), 0) >= 4 then 'high'
                       when coalesce(sum(risk_points), 0) >= 2 then 'medium'
                       else 'low' end,
    'risk_points', coalesce(sum(risk_points), 0),
    'compliance_score', greatest(0, 100 - coalesce(sum(compliance_penalty), 0)),
    'reasons', coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'rule', code, 'reason', reason, 'risk_points', risk_points,
                 'compliance_penalty', compliance_penalty) order by code), '[]'::jsonb))
  from applied
$$;

-- ---------------------------------------------------------------------------------------
-- The guard (replacing 0004's) and the trigger that scores and versions every change.
-- ---------------------------------------------------------------------------------------
create or replace function public.guard_gpt_governance()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user not in ('anon', 'authenticated') then
    return new;
  end if;
  if tg_op = 'INSERT' then
    -- the column defaults: a new GPT waits for review, its scores are computed
    new.approval_status := 'pending';
    new.monthly_cost := 0;
    new.usage_count := 0;
    new.rating := 0;
    new.version := 1;
    new.approved_version := null;
    new.risk_override := null;
    if new.status = 'suspended' then
      new.status := 'active';
    end if;
    return new;
  end if;
  if (new.approval_status, new.risk_level, new.compliance_score, new.monthly_cost,
      new.usage_count, new.rating, new.version, new.approved_version, new.published,
      new.risk_reasons, new.risk_override, new.reviewer)
     is distinct from
     (old.approval_status, old.risk_level, old.compliance_score, old.monthly_cost,
      old.usage_count, old.rating, old.version, old.approved_version, old.published,
      old.risk_reasons, old.risk_override, old.reviewer) then
    raise exception using
      errcode = '42501',
      message = 'a GPT''s review and scores change only through the governance functions',
      detail = 'approval_status, risk_level, compliance_score, versions and costs are kept by GPT Desk',
      hint = 'Use approve_gpt, reject_gpt, override_gpt_risk (or /api/v1/gpts/{id}/...).';
  end if;
  if (new.status = 'suspended') <> (old.status = 'suspended') then
    raise exception using
      errcode = '42501',
      message = 'suspending and reinstating a GPT go through suspend_gpt and reinstate_gpt';
  end if;
  return new;
end
$$;

-- Config columns whose change makes a new version, and those reviewers judge.
create or replace function governance.config_changed(a public.gpts, b public.gpts, reviewed_only boolean)
returns boolean
language sql
immutable
set search_path = ''
as $$
  select (a.prompt, a.model, a.web_access, a.is_public, a.access_level)
         is distinct from (b.prompt, b.model, b.web_access, b.is_public, b.access_level)
      or (not reviewed_only
          and (a.name, a.description, a.category, a.temperature, a.max_tokens)
              is distinct from (b.name, b.description, b.category, b.temperature, b.max_tokens))
$$;

-- Whether version `version` of GPT `gpt_id` was public or organization-wide.
create or replace function governance.version_exposed(gpt_id uuid, version integer)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce((select v.is_public or v.access_level = 'organization'
                     from public.gpt_versions v
                    where v.gpt_id = version_exposed.gpt_id
                      and v.version = version_exposed.version), false)
$$;

-- Scores and versions a GPT as it is written. SECURITY INVOKER on purpose, like the guard:
-- current_user tells a request role (anon, authenticated) from a trusted writer (the owner,
-- service_role, a governance function). A trusted writer's change keeps the approval the
-- GPT had (they are the operator, as service_role is past RLS); a request role's change to
-- what reviewers judge sends it back to review.
create or replace function governance.track_gpt()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  assessed jsonb;
  config_changed boolean := tg_op = 'INSERT' or governance.config_changed(new, old, false);
  trusted boolean := current_user not in ('anon', 'authenticated');
begin
  if tg_op = 'UPDATE' and not config_changed
     and new.risk_override is not distinct from old.risk_override
     and (new.approval_status, new.approved_version, new.status)
         is not distinct from (old.approval_status, old.approved_version, old.status) then
    return new;  -- counters and the like (every chat answer updates usage_count): no rescoring
  end if;
  if tg_op = 'UPDATE' and config_changed then
    new.risk_override := null;  -- an override judged the old configuration
  end if;
  assessed := governance.assess(new.description, new.category, new.prompt, new.model,
                                new.temperature, new.web_access, new.is_public,
                                new.access_level);
  new.risk_reasons := assessed -> 'reasons';
  new.risk_level := coalesce((new.risk_override ->> 'risk_level')::public.risk_level,
                             (assessed ->> 'risk_level')::public.risk_level);
  new.compliance_score := coalesce((new.risk_override ->> 'compliance_score')::integer,
                                   (assessed ->> 'compliance_score')::integer);
  new.reviewer := case when new.is_public or new.access_level = 'organization'
                            or new.risk_level = 'high'
                       then 'super_admin' else 'team_admin' end;

  if tg_op = 'INSERT' then
    new.version := 1;
    new.approved_version := case when new.approval_status = 'approved' then 1 end;
  elsif config_changed then
    new.version := old.version + 1;
    if trusted then
      if new.approval_status = 'approved' then
        new.approved_version := new.version;
      end if;
    elsif old.approval_status = 'approved'
          and not governance.config_changed(new, old, true)
          and new.risk_level <= old.risk_level
          and not (new.reviewer = 'super_admin' and old.reviewer = 'team_admin') then
      new.approved_version := new.version;  -- nothing reviewers judge changed
    else
      new.approval_status := 'pending';  -- back to review; the approved version still answers
    end if;
  elsif new.approval_status = 'approved' and old.approval_status <> 'approved'
        and new.approved_version is not distinct from old.approved_version then
    new.approved_version := new.version;  -- a trusted writer approving the current version
  elsif new.approval_status = 'rejected' and old.approval_status = 'approved'
        and old.approved_version = old.version
        and new.approved_version is not distinct from old.approved_version then
    new.approved_version := null;  -- a trusted writer rejecting the version that answers
  end if;
  -- Seen by other teams while both the approved and the current version are exposed: a
  -- pending change cannot publish a GPT, and narrowing its exposure takes effect at once.
  new.published := new.approved_version is not null
    and (new.is_public or new.access_level = 'organization')
    and (new.approved_version = new.version
         or governance.version_exposed(new.id, new.approved_version));
  return new;
end
$$;

-- After the row is written: the version snapshot, and its status kept in step with the GPT.
create or replace function governance.snapshot_gpt()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE'
     and (new.version, new.approved_version, new.approval_status, new.risk_level,
          new.compliance_score, new.reviewer)
         is not distinct from
         (old.version, old.approved_version, old.approval_status, old.risk_level,
          old.compliance_score, old.reviewer) then
    return null;  -- nothing a version records changed
  end if;
  if tg_op = 'UPDATE' and new.approved_version is distinct from old.approved_version then
    update public.gpt_versions v set status = 'superseded'
     where v.gpt_id = new.id and v.status = 'approved'
       and v.version is distinct from new.approved_version;
  end if;
  if tg_op = 'INSERT' or new.version <> old.version then
    update public.gpt_versions v set status = 'superseded'
     where v.gpt_id = new.id and v.status = 'pending';
    insert into public.gpt_versions
      (gpt_id, version, name, description, category, prompt, model, temperature, max_tokens,
       web_access, is_public, access_level, status, risk_level, compliance_score, risk_reasons,
       reviewer, created_by, ever_approved, rollback_of)
    values
      (new.id, new.version, new.name, new.description, new.category, new.prompt, new.model,
       new.temperature, new.max_tokens, new.web_access, new.is_public, new.access_level,
       case when new.approved_version = new.version then 'approved'
            else new.approval_status::text end,
       new.risk_level, new.compliance_score, new.risk_reasons, new.reviewer,
       coalesce(auth.uid(), new.creator_id),
       coalesce(new.approved_version = new.version, false),
       nullif(current_setting('gptdesk.rollback_of', true), '')::integer)
    on conflict (gpt_id, version) do nothing;
  else
    update public.gpt_versions v
       set status = case when new.approved_version = new.version then 'approved'
                         else new.approval_status::text end,
           ever_approved = v.ever_approved or coalesce(new.approved_version = new.version, false),
           risk_level = new.risk_level, compliance_score = new.compliance_score,
           risk_reasons = new.risk_reasons, reviewer = new.reviewer
     where v.gpt_id = new.id and v.version = new.version
       and (v.status, v.risk_level, v.compliance_score, v.reviewer)
           is distinct from
           (case when new.approved_version = new.version then 'approved'
                 else new.approval_status::text end,
            new.risk_level, new.compliance_score, new.reviewer);
  end if;
  return null;
end
$$;

revoke execute on function governance.snapshot_gpt(), governance.track_gpt()
  from public, anon, authenticated, service_role;
-- track_gpt runs as the writer, so the writers may call what it calls.
revoke execute on function governance.config_changed(public.gpts, public.gpts, boolean),
  governance.version_exposed(uuid, integer) from public;
grant execute on function governance.config_changed(public.gpts, public.gpts, boolean),
  governance.version_exposed(uuid, integer) to anon, authenticated, service_role;
grant execute on function governance.assess(text, text, text, text, numeric, boolean, boolean,
  public.access_level) to anon, authenticated, service_role;

create or replace trigger track_gpt before insert or update on public.gpts
  for each row execute function governance.track_gpt();
create or replace trigger snapshot_gpt after insert or update on public.gpts
  for each row execute function governance.snapshot_gpt();

-- Governance actions audit themselves; the change trigger stays quiet for their updates.
create or replace trigger audit_change after insert or update or delete on public.gpts
  for each row execute function audit.record_change(
    'gpt', 'usage_count', 'monthly_cost', 'rating', 'risk_reasons', 'published', 'reviewer');


-- 0021's change trigger, quiet while a governance action records itself.
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
  if current_setting('gptdesk.quiet_audit', true) = 'on' then
    return null;  -- a governance action records itself
  end if;
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

-- ---------------------------------------------------------------------------------------
-- Published GPTs (the approved version public or organization-wide) are what other teams
-- see: a pending change that would publish a GPT shows it to nobody new until approved.
-- ---------------------------------------------------------------------------------------
drop policy if exists "Users can view public GPTs" on public.gpts;
create policy "Users can view public GPTs" on public.gpts
  for select to authenticated
  using (published);
create index if not exists gpts_published on public.gpts (created_at desc) where published;

-- ---------------------------------------------------------------------------------------
-- Transitions.
-- ---------------------------------------------------------------------------------------

-- Refuses: SQLSTATE PT<status> (PostgREST answers with that status), the stable code as the
-- detail, the explanation as the message.
create or replace function governance.refuse(status integer, code text, message text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception using errcode = 'PT' || status::text, message = message, detail = code;
end
$$;

-- The GPT `gpt_id`, locked, if the caller may see it (404 otherwise, as for a missing one).
-- The service role sees and reviews every GPT.
create or replace function governance.locked_gpt(gpt_id uuid)
returns public.gpts
language plpgsql
security definer
set search_path = ''
as $$
declare
  g public.gpts;
  actor uuid := auth.uid();
begin
  select * into g from public.gpts x where x.id = locked_gpt.gpt_id for update;
  if not found
     or not (g.published or public.is_super_admin(actor) or auth.role() = 'service_role'
             or g.team_id = public.get_user_team_id(actor)) then
    perform governance.refuse(404, 'gpt_not_found', 'No GPT with this id is one you may see');
  end if;
  return g;
end
$$;

-- Refuses unless the caller may review at level `needed` (team_admin | super_admin) in the
-- GPT's team.
create or replace function governance.require_reviewer(g public.gpts, needed text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  actor uuid := auth.uid();
  actor_role public.user_role := public.get_user_role(actor);
begin
  if actor_role = 'super_admin' or auth.role() = 'service_role' then
    return;
  end if;
  if actor_role = 'admin' and g.team_id = public.get_user_team_id(actor) then
    if needed = 'super_admin' then
      perform governance.refuse(403, 'super_admin_required',
        'A super admin must review this GPT: it is public, organization-wide or high risk');
    end if;
    return;
  end if;
  perform governance.refuse(403, 'not_a_reviewer',
    'Only the admins of the GPT''s team (and super admins) may do this');
end
$$;

-- Writes the audit row of a governance action, and keeps the change trigger quiet for the
-- updates that follow in this action.
create or replace function governance.record(action text, g public.gpts, details jsonb)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.audit_logs
    (user_id, team_id, action, resource_type, resource_id, details, ip_address, user_agent)
  values ((select u.id from public.users u where u.id = auth.uid()), g.team_id, action, 'gpt',
          g.id, details, public.request_client_ip(), public.request_user_agent());
end
$$;

-- Where a GPT stands, as the transitions return it.
create or replace function governance.state(gpt_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'id', g.id, 'name', g.name, 'status', g.status, 'approval_status', g.approval_status,
    'version', g.version, 'approved_version', g.approved_version, 'published', g.published,
    'risk_level', g.risk_level, 'compliance_score', g.compliance_score,
    'risk_reasons', g.risk_reasons, 'risk_override', g.risk_override, 'reviewer', g.reviewer)
    from public.gpts g where g.id = state.gpt_id
$$;

-- Approves the GPT's pending version: it answers chats from now on.
create or replace function public.approve_gpt(gpt_id uuid, comment text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  g public.gpts := governance.locked_gpt(approve_gpt.gpt_id);
  v public.gpt_versions;
begin
  if g.approval_status <> 'pending' then
    perform governance.refuse(409, 'not_pending',
      pg_catalog.format('The GPT is %s; only a pending version can be approved', g.approval_status));
  end if;
  select * into v from public.gpt_versions x where x.gpt_id = g.id and x.version = g.version;
  perform governance.require_reviewer(g, v.reviewer);
  -- four eyes: not the author of any change since the last approved version
  if public.get_user_role(auth.uid()) <> 'super_admin'
     and exists (select from public.gpt_versions x
                  where x.gpt_id = g.id and x.version > coalesce(g.approved_version, 0)
                    and x.created_by = auth.uid()) then
    perform governance.refuse(403, 'own_gpt',
      'You made changes in this version: another admin must approve it');
  end if;
  perform pg_catalog.set_config('gptdesk.quiet_audit', 'on', true);
  update public.gpt_versions x
     set reviewed_by = auth.uid(), reviewed_at = now(), review_comment = approve_gpt.comment
   where x.id = v.id;
  update public.gpts x set approval_status = 'approved', approved_version = g.version
   where x.id = g.id;
  perform pg_catalog.set_config('gptdesk.quiet_audit', '', true);
  perform governance.record('gpt.approved', g, pg_catalog.jsonb_build_object(
    'version', g.version, 'comment', approve_gpt.comment,
    'risk_level', g.risk_level, 'compliance_score', g.compliance_score,
    'before', pg_catalog.jsonb_build_object('approval_status', g.approval_status,
                                            'approved_version', g.approved_version),
    'after', pg_catalog.jsonb_build_object('approval_status', 'approved',
                                           'approved_version', g.version)));
  return governance.state(g.id);
end
$$;

-- Rejects the pending version, with a comment; an earlier approved version keeps answering.
create or replace function public.reject_gpt(gpt_id uuid, comment text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  g public.gpts := governance.locked_gpt(reject_gpt.gpt_id);
  v public.gpt_versions;
begin
  if coalesce(reject_gpt.comment, '') ~ '^\s*$' then
    perform governance.refuse(400, 'comment_required', 'Say why the GPT is rejected');
  end if;
  if g.approval_status <> 'pending' then
    perform governance.refuse(409, 'not_pending',
      pg_catalog.format('The GPT is %s; only a pending version can be rejected', g.approval_status));
  end if;
  select * into v from public.gpt_versions x where x.gpt_id = g.id and x.version = g.version;
  -- refusing is the cautious side: the team's admins may reject any version of their team
  perform governance.require_reviewer(g, 'team_admin');
  perform pg_catalog.set_config('gptdesk.quiet_audit', 'on', true);
  update public.gpt_versions x
     set reviewed_by = auth.uid(), reviewed_at = now(), review_comment = reject_gpt.comment
   where x.id = v.id;
  update public.gpts x set approval_status = 'rejected' where x.id = g.id;
  perform pg_catalog.set_config('gptdesk.quiet_audit', '', true);
  perform governance.record('gpt.rejected', g, pg_catalog.jsonb_build_object(
    'version', g.version, 'comment', reject_gpt.comment,
    'before', pg_catalog.jsonb_build_object('approval_status', g.approval_status),
    'after', pg_catalog.jsonb_build_object('approval_status', 'rejected')));
  return governance.state(g.id);
end
$$;

-- Suspends the GPT (it stops answering at once), with a reason.
create or replace function public.suspend_gpt(gpt_id uuid, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  g public.gpts := governance.locked_gpt(suspend_gpt.gpt_id);
begin
  if coalesce(suspend_gpt.reason, '') ~ '^\s*$' then
    perform governance.refuse(400, 'reason_required', 'Say why the GPT is suspended');
  end if;
  if g.status = 'suspended' then
    perform governance.refuse(409, 'already_suspended', 'The GPT is suspended already');
  end if;
  perform governance.require_reviewer(g, 'team_admin');
  perform pg_catalog.set_config('gptdesk.quiet_audit', 'on', true);
  update public.gpts x set status = 'suspended' where x.id = g.id;
  perform pg_catalog.set_config('gptdesk.quiet_audit', '', true);
  perform governance.record('gpt.suspended', g, pg_catalog.jsonb_build_object(
    'reason', suspend_gpt.reason,
    'before', pg_catalog.jsonb_build_object('status', g.status),
    'after', pg_catalog.jsonb_build_object('status', 'suspended')));
  return governance.state(g.id);
end
$$;

-- Reinstates a suspended GPT (active again), by whoever may review it.
create or replace function public.reinstate_gpt(gpt_id uuid, comment text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  g public.gpts := governance.locked_gpt(reinstate_gpt.gpt_id);
begin
  if g.status <> 'suspended' then
    perform governance.refuse(409, 'not_suspended',
      pg_catalog.format('The GPT is %s, not suspended', g.status));
  end if;
  perform governance.require_reviewer(g, g.reviewer);
  perform pg_catalog.set_config('gptdesk.quiet_audit', 'on', true);
  update public.gpts x set status = 'active' where x.id = g.id;
  perform pg_catalog.set_config('gptdesk.quiet_audit', '', true);
  perform governance.record('gpt.reinstated', g, pg_catalog.jsonb_build_object(
    'comment', reinstate_gpt.comment,
    'before', pg_catalog.jsonb_build_object('status', g.status),
    'after', pg_catalog.jsonb_build_object('status', 'active')));
  return governance.state(g.id);
end
$$;

-- Makes an earlier approved version current again: its configuration becomes a new
-- version, approved at once (by the caller, who must be allowed to review that version).
create or replace function public.rollback_gpt(gpt_id uuid, version integer, comment text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  g public.gpts := governance.locked_gpt(rollback_gpt.gpt_id);
  target public.gpt_versions;
  after_row public.gpts;
begin
  select * into target from public.gpt_versions x
   where x.gpt_id = g.id and x.version = rollback_gpt.version;
  if not found then
    perform governance.refuse(404, 'version_not_found',
      pg_catalog.format('The GPT has no version %s', rollback_gpt.version));
  end if;
  if not target.ever_approved then
    perform governance.refuse(409, 'version_never_approved',
      pg_catalog.format('Version %s was never approved; only approved versions can come back',
                        target.version));
  end if;
  if g.approved_version = g.version and g.version = target.version then
    perform governance.refuse(409, 'already_current',
      pg_catalog.format('Version %s is the current, approved version', target.version));
  end if;
  perform governance.require_reviewer(g, target.reviewer);
  perform pg_catalog.set_config('gptdesk.quiet_audit', 'on', true);
  perform pg_catalog.set_config('gptdesk.rollback_of', target.version::text, true);
  update public.gpts x
     set name = target.name, description = target.description, category = target.category,
         prompt = target.prompt, model = target.model, temperature = target.temperature,
         max_tokens = target.max_tokens, web_access = target.web_access,
         is_public = target.is_public, access_level = target.access_level,
         approval_status = 'approved'
   where x.id = g.id
  returning * into after_row;
  if after_row.approved_version is distinct from after_row.version then
    -- the configuration was the current one already: approve it as it stands
    update public.gpts x set approved_version = x.version where x.id = g.id
    returning * into after_row;
  end if;
  update public.gpt_versions x
     set reviewed_by = auth.uid(), reviewed_at = now(),
         review_comment = coalesce(rollback_gpt.comment,
                                   pg_catalog.format('rolled back to version %s', target.version))
   where x.gpt_id = g.id and x.version = after_row.version;
  perform pg_catalog.set_config('gptdesk.rollback_of', '', true);
  perform pg_catalog.set_config('gptdesk.quiet_audit', '', true);
  perform governance.record('gpt.rolled_back', g, pg_catalog.jsonb_build_object(
    'to_version', target.version, 'new_version', after_row.version,
    'comment', rollback_gpt.comment,
    'before', pg_catalog.jsonb_build_object('version', g.version,
                                            'approved_version', g.approved_version,
                                            'approval_status', g.approval_status),
    'after', pg_catalog.jsonb_build_object('version', after_row.version,
                                           'approved_version', after_row.approved_version,
                                           'approval_status', after_row.approval_status)));
  return governance.state(g.id);
end
$$;

-- Overrides the computed risk level and compliance score, with a justification, until the
-- configuration next changes; both null clears the override. Lowering a high risk (or any
-- override of a GPT a super admin reviews) is for super admins.
create or replace function public.override_gpt_risk(
  gpt_id uuid, risk_level public.risk_level, compliance_score integer, justification text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  g public.gpts := governance.locked_gpt(override_gpt_risk.gpt_id);
  after_row public.gpts;
  override jsonb;
begin
  if coalesce(override_gpt_risk.justification, '') ~ '^\s*$' then
    perform governance.refuse(400, 'justification_required', 'Justify the override');
  end if;
  if (override_gpt_risk.risk_level is null) <> (override_gpt_risk.compliance_score is null) then
    perform governance.refuse(400, 'invalid_override',
      'Give both a risk level and a compliance score, or neither to clear the override');
  end if;
  if override_gpt_risk.compliance_score not between 0 and 100 then
    perform governance.refuse(400, 'invalid_override', 'compliance_score must be 0 to 100');
  end if;
  perform governance.require_reviewer(g, g.reviewer);
  if override_gpt_risk.risk_level is not null then
    override := pg_catalog.jsonb_build_object(
      'risk_level', override_gpt_risk.risk_level,
      'compliance_score', override_gpt_risk.compliance_score,
      'justification', override_gpt_risk.justification,
      'by', auth.uid(), 'at', now(),
      'computed', (select pg_catalog.jsonb_build_object(
                     'risk_level', a ->> 'risk_level', 'compliance_score',
                     (a ->> 'compliance_score')::integer)
                     from governance.assess(g.description, g.category, g.prompt, g.model,
                                            g.temperature, g.web_access, g.is_public,
                                            g.access_level) a));
  end if;
  perform pg_catalog.set_config('gptdesk.quiet_audit', 'on', true);
  update public.gpts x set risk_override = override where x.id = g.id
  returning * into after_row;
  perform pg_catalog.set_config('gptdesk.quiet_audit', '', true);
  perform governance.record(
    case when override is null then 'gpt.risk_override_cleared' else 'gpt.risk_overridden' end,
    g, pg_catalog.jsonb_build_object(
      'justification', override_gpt_risk.justification,
      'before', pg_catalog.jsonb_build_object('risk_level', g.risk_level,
                                              'compliance_score', g.compliance_score),
      'after', pg_catalog.jsonb_build_object('risk_level', after_row.risk_level,
                                             'compliance_score', after_row.compliance_score)));
  return governance.state(g.id);
end
$$;

-- Records a refused governance action after its transaction rolled back (the server calls
-- this with what the refusal said): `gpt.<action>_refused`, by the caller, about a GPT the
-- caller can see (the row names the caller as its actor: nobody records for another).
create or replace function public.record_gpt_refusal(
  gpt_id uuid, action text, code text, message text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  g public.gpts;
begin
  if record_gpt_refusal.action not in
     ('approve', 'reject', 'suspend', 'reinstate', 'rollback', 'override_risk') then
    perform governance.refuse(400, 'unknown_action', 'No such governance action');
  end if;
  select * into g from public.gpts x where x.id = record_gpt_refusal.gpt_id;
  if g.id is null
     or not (g.published or public.is_super_admin(auth.uid()) or auth.role() = 'service_role'
             or g.team_id = public.get_user_team_id(auth.uid())) then
    perform governance.refuse(404, 'gpt_not_found', 'No GPT with this id is one you may see');
  end if;
  insert into public.audit_logs
    (user_id, team_id, action, resource_type, resource_id, details, ip_address, user_agent)
  values ((select u.id from public.users u where u.id = auth.uid()), g.team_id,
          'gpt.' || record_gpt_refusal.action || '_refused', 'gpt', record_gpt_refusal.gpt_id,
          pg_catalog.jsonb_build_object('code', left(record_gpt_refusal.code, 100),
                                        'message', left(record_gpt_refusal.message, 500),
                                        'actor_id', auth.uid()),
          public.request_client_ip(), public.request_user_agent());
end
$$;

revoke execute on function governance.refuse(integer, text, text),
  governance.locked_gpt(uuid), governance.require_reviewer(public.gpts, text),
  governance.record(text, public.gpts, jsonb), governance.state(uuid)
  from public, anon, authenticated, service_role;
revoke execute on function public.approve_gpt(uuid, text), public.reject_gpt(uuid, text),
  public.suspend_gpt(uuid, text), public.reinstate_gpt(uuid, text),
  public.rollback_gpt(uuid, integer, text),
  public.override_gpt_risk(uuid, public.risk_level, integer, text),
  public.record_gpt_refusal(uuid, text, text, text)
  from public, anon;
grant execute on function public.approve_gpt(uuid, text), public.reject_gpt(uuid, text),
  public.suspend_gpt(uuid, text), public.reinstate_gpt(uuid, text),
  public.rollback_gpt(uuid, integer, text),
  public.override_gpt_risk(uuid, public.risk_level, integer, text),
  public.record_gpt_refusal(uuid, text, text, text)
  to authenticated, service_role;

-- Opens a turn in the caller's `session_id` (0017's, now answering with the GPT's approved
-- version and refusing with 402 when a hard-stop budget is spent). Raises (and so writes nothing) with SQLSTATE
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
  v public.gpt_versions;
  blocked jsonb;
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
  if g.status <> 'active' or g.approved_version is null then
    raise exception using errcode = 'GD403', message = 'gpt_unavailable',
      detail = pg_catalog.format('The GPT is %s and %s; only active, approved GPTs answer',
                                 g.status, g.approval_status);
  end if;
  -- the approved version answers, even while a newer one waits for review
  select * into v from public.gpt_versions x
   where x.gpt_id = g.id and x.version = g.approved_version;
  if not found then
    raise exception using errcode = 'GD403', message = 'gpt_unavailable',
      detail = 'The GPT has no approved version you may use';
  end if;
  blocked := analytics.budget_block(public.get_user_team_id(auth.uid()), g.id);
  if blocked is not null then
    raise exception using errcode = 'GD402', message = 'budget_exhausted',
      detail = pg_catalog.format(
        'The %s''s monthly budget of %s %s is spent (%s %s this month); an admin can raise it',
        case when blocked ->> 'scope' = 'gpt' then 'GPT' else 'team' end,
        blocked ->> 'monthly_limit', blocked ->> 'currency',
        round((blocked ->> 'spent')::numeric, 2), blocked ->> 'currency');
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

  history_chars := 3 * (coalesce((open_turn.context_windows ->> v.model)::bigint,
                                 (open_turn.context_windows ->> '*')::bigint, 0)
                        - v.max_tokens);
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
      'id', g.id, 'name', v.name, 'model', v.model, 'prompt', v.prompt,
      'temperature', v.temperature, 'max_tokens', v.max_tokens, 'version', v.version),
    'history', history);
end
$$;

-- 0017's OpenAI-endpoint turn: a GPT answers while it has an approved version (a newer one
-- may wait for review), as in open_turn.
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
  if g.status <> 'active' or g.approved_version is null then
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


-- ---------------------------------------------------------------------------------------
-- Existing GPTs: version 1 from what they are now, scored.
-- ---------------------------------------------------------------------------------------
do $$
begin
  perform pg_catalog.set_config('gptdesk.quiet_audit', 'on', true);
  update public.gpts g set approval_status = g.approval_status
   where not exists (select from public.gpt_versions v where v.gpt_id = g.id);
  insert into public.gpt_versions
    (gpt_id, version, name, description, category, prompt, model, temperature, max_tokens,
     web_access, is_public, access_level, status, risk_level, compliance_score, risk_reasons,
     reviewer, created_by, ever_approved)
  select g.id, g.version, g.name, g.description, g.category, g.prompt, g.model, g.temperature,
         g.max_tokens, g.web_access, g.is_public, g.access_level, g.approval_status::text,
         g.risk_level, g.compliance_score, g.risk_reasons, g.reviewer, g.creator_id,
         g.approval_status = 'approved'
    from public.gpts g
   where not exists (select from public.gpt_versions v where v.gpt_id = g.id);
  update public.gpts g
     set approved_version = g.version,
         published = g.is_public or g.access_level = 'organization'
   where g.approval_status = 'approved' and g.approved_version is null;
  perform pg_catalog.set_config('gptdesk.quiet_audit', '', true);
end
$$;
