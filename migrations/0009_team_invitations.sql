-- 0009_team_invitations: team admins invite people by e-mail; signing up with the mailed
-- token puts the new account in the team with the invited role.
--
-- Who may do what (RLS, and the column grants beneath it):
--   * the team's admins and super admins read, create and revoke a team's invitations
--     (public.can_manage_team); nobody else sees them, anon nothing at all;
--   * an invitation is created as its inviter (invited_by = the caller), pending, for the
--     role `user` or `admin` — never `super_admin`;
--   * revoking is the one change a request role may make: it sets revoked_at on a pending
--     invitation. Expiry, token and acceptance cannot be edited; nothing is deleted through
--     the API (invitations are the team's membership history; service_role may tidy up);
--   * the auth service (`gptdesk_auth`) reads invitations by token hash and marks a pending
--     one accepted in the sign-up transaction — the only columns of `public` it may change.
--
-- Only the SHA-256 of an invitation token is stored; the token itself is mailed once.
set local lock_timeout = '5s';

create table if not exists public.team_invitations (
    id uuid primary key default gen_random_uuid(),
    team_id uuid not null references public.teams (id) on delete cascade,
    email varchar(255) not null check (email = lower(btrim(email)) and email like '%_@_%'),
    role public.user_role not null default 'user' check (role in ('user', 'admin')),
    token_hash text not null check (token_hash ~ '^[0-9a-f]{64}$'),
    invited_by uuid default auth.uid() references public.users (id) on delete set null,
    created_at timestamp with time zone not null default now(),
    expires_at timestamp with time zone not null,
    accepted_at timestamp with time zone,
    accepted_by uuid references public.users (id) on delete set null,
    revoked_at timestamp with time zone,
    check (expires_at > created_at),
    check (accepted_at is null or revoked_at is null)
);

comment on table public.team_invitations is
    'Invitations to join a team by e-mail; the token is mailed, only its SHA-256 is kept.';

create unique index if not exists team_invitations_token_hash_key
    on public.team_invitations (token_hash);
-- One pending invitation per team and address. An expired one still counts until the
-- service revokes it when the address is invited again (now() cannot be in an index).
create unique index if not exists team_invitations_pending_key
    on public.team_invitations (team_id, lower(email))
    where accepted_at is null and revoked_at is null;
create index if not exists team_invitations_team_id_idx
    on public.team_invitations (team_id, created_at desc);
-- Foreign keys from users, for ON DELETE SET NULL when an account goes.
create index if not exists team_invitations_invited_by_idx
    on public.team_invitations (invited_by) where invited_by is not null;
create index if not exists team_invitations_accepted_by_idx
    on public.team_invitations (accepted_by) where accepted_by is not null;

-- Whether the caller manages `team`: an admin of that team, a super admin, or the server
-- (service_role, which bypasses RLS anyway). The policies below and the /api/v1 invitation
-- endpoints (to answer 403 rather than an empty list) both ask this one function. It asks
-- the seed's helpers (0004), so whatever narrows admin powers there narrows them here too.
-- Invitations are read one team at a time, so its per-row call is cheap; PL/pgSQL keeps its
-- plan for the connection's life.
create or replace function public.can_manage_team(team uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
begin
  if coalesce(auth.role() = 'service_role', false) then
    return true;
  end if;
  if me is null or team is null then
    return false;
  end if;
  return public.is_super_admin(me)
      or (public.is_admin_or_super(me)
          and coalesce(public.get_user_team_id(me) = team, false));
end
$$;

revoke execute on function public.can_manage_team(uuid) from public, anon;
grant execute on function public.can_manage_team(uuid) to authenticated, service_role;

-- Grants: 0001's default privileges gave anon and authenticated every DML right; take them
-- back and give exactly what the policies gate. service_role keeps ALL (it bypasses RLS).
revoke all on public.team_invitations from public, anon, authenticated;
grant select on public.team_invitations to authenticated;
grant insert (team_id, email, role, token_hash, invited_by, expires_at)
    on public.team_invitations to authenticated;
grant update (revoked_at) on public.team_invitations to authenticated;
grant select, update (accepted_at, accepted_by) on public.team_invitations to gptdesk_auth;

alter table public.team_invitations enable row level security;

drop policy if exists "Team managers can view their team's invitations"
    on public.team_invitations;
create policy "Team managers can view their team's invitations" on public.team_invitations
  for select to authenticated
  using (public.can_manage_team(team_id));

drop policy if exists "Team managers can invite to their team" on public.team_invitations;
create policy "Team managers can invite to their team" on public.team_invitations
  for insert to authenticated
  with check (public.can_manage_team(team_id)
              and invited_by = (select auth.uid()));

-- Only pending invitations can be changed, and the change must revoke them.
drop policy if exists "Team managers can revoke their team's invitations"
    on public.team_invitations;
create policy "Team managers can revoke their team's invitations" on public.team_invitations
  for update to authenticated
  using (public.can_manage_team(team_id) and accepted_at is null and revoked_at is null)
  with check (public.can_manage_team(team_id) and revoked_at is not null);

drop policy if exists "The auth service reads invitations" on public.team_invitations;
create policy "The auth service reads invitations" on public.team_invitations
  for select to gptdesk_auth
  using (true);

drop policy if exists "The auth service accepts pending invitations" on public.team_invitations;
create policy "The auth service accepts pending invitations" on public.team_invitations
  for update to gptdesk_auth
  using (accepted_at is null and revoked_at is null)
  with check (accepted_at is not null and accepted_by is not null);
