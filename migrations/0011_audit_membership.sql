-- 0011_audit_membership: role and team changes of a profile are audited in the same
-- transaction, whoever makes them (a team admin through REST, a super admin, the server).
--
-- The row names the actor from the request's JWT, the changed user as the resource, the
-- team the user left or joined (so that team's admins can read it), before and after, and
-- the client address and user agent the request scope set (never headers for the address).
set local lock_timeout = '5s';

create or replace function public.audit_membership_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  actor uuid := auth.uid();
  actor_profile uuid;
  -- A team being deleted empties its members' team_id (on delete set null); by then the
  -- team row is gone, so the audit row cannot point at it.
  old_team uuid := (select t.id from public.teams t where t.id = old.team_id);
  new_team uuid := (select t.id from public.teams t where t.id = new.team_id);
  change text;
begin
  if new.role is not distinct from old.role and new.team_id is not distinct from old.team_id then
    return new;
  end if;
  change := case when new.team_id is distinct from old.team_id then 'user.team_changed'
                 else 'user.role_changed' end;
  select u.id into actor_profile from public.users u where u.id = actor;
  insert into public.audit_logs
    (user_id, team_id, action, resource_type, resource_id, details, ip_address, user_agent)
  values (
    actor_profile,
    coalesce(new_team, old_team),
    change,
    'user',
    new.id,
    pg_catalog.jsonb_build_object(
      'before', pg_catalog.jsonb_build_object('role', old.role, 'team_id', old.team_id),
      'after', pg_catalog.jsonb_build_object('role', new.role, 'team_id', new.team_id))
      || case when actor is not null and actor_profile is null
              then pg_catalog.jsonb_build_object('actor_id', actor) else '{}'::jsonb end,
    public.request_client_ip(),
    public.request_user_agent());
  -- A move between teams is also shown to the team the user left.
  if new.team_id is distinct from old.team_id and old_team is not null
     and new_team is not null then
    insert into public.audit_logs
      (user_id, team_id, action, resource_type, resource_id, details, ip_address, user_agent)
    values (actor_profile, old_team, 'user.team_changed', 'user', new.id,
      pg_catalog.jsonb_build_object(
        'before', pg_catalog.jsonb_build_object('role', old.role, 'team_id', old.team_id),
        'after', pg_catalog.jsonb_build_object('role', new.role, 'team_id', new.team_id)),
      public.request_client_ip(), public.request_user_agent());
  end if;
  return new;
end
$$;

revoke execute on function public.audit_membership_change()
  from public, anon, authenticated, service_role;

create or replace trigger audit_membership_change
  after update of role, team_id on public.users
  for each row execute function public.audit_membership_change();
