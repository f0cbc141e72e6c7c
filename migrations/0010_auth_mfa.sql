-- 0010_auth_mfa: TOTP factors and their challenges (GoTrue's MFA), and the policy that can
-- make team admins and super admins prove a second factor (aal2) before their powers apply.
--
-- The auth service (src/gptdesk/auth/mfa.py) is the only reader and writer of the factor
-- tables, as `gptdesk_auth`; the API roles get no access to them (a factor's secret is
-- the second factor itself). Secrets are stored sealed (AES-GCM, key derived from the JWT
-- secret, the factor id as associated data): a dump of the database alone does not give them.
--
-- A session's authentication methods stay where 0007 keeps them, in auth.sessions.amr
-- (GoTrue keeps them in a separate auth.mfa_amr_claims table; one jsonb column serves the
-- same purpose here). The session remembers which factor raised it to aal2, so that
-- unenrolling that factor lowers it again.
set local lock_timeout = '5s';

create table if not exists auth.mfa_factors (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references auth.users (id) on delete cascade,
    friendly_name text,
    factor_type text not null default 'totp' check (factor_type in ('totp')),
    status text not null default 'unverified' check (status in ('unverified', 'verified')),
    -- "v1." + base64url(nonce || ciphertext): see src/gptdesk/auth/sealing.py.
    secret text not null,
    -- The TOTP time step (unix time / 30) of the last code accepted: a code is good once.
    last_verified_step bigint,
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    last_challenged_at timestamp with time zone
);
create index if not exists mfa_factors_user_id_idx on auth.mfa_factors (user_id, created_at);
-- A name tells a user's factors apart; factors without one are not compared.
create unique index if not exists mfa_factors_user_friendly_name_key
    on auth.mfa_factors (user_id, friendly_name) where friendly_name is not null;

-- A challenge is the right to verify one code, from the address that asked for it, for a
-- few minutes (the expiry is the service's, measured from created_at).
create table if not exists auth.mfa_challenges (
    id uuid primary key default gen_random_uuid(),
    factor_id uuid not null references auth.mfa_factors (id) on delete cascade,
    created_at timestamp with time zone not null default now(),
    verified_at timestamp with time zone,
    ip_address inet
);
create index if not exists mfa_challenges_factor_id_idx
    on auth.mfa_challenges (factor_id, created_at);

alter table auth.sessions
    add column if not exists factor_id uuid references auth.mfa_factors (id) on delete set null;
create index if not exists sessions_factor_id_idx on auth.sessions (factor_id)
    where factor_id is not null;

grant select, insert, update, delete on auth.mfa_factors, auth.mfa_challenges to gptdesk_auth;
revoke all on auth.mfa_factors, auth.mfa_challenges
  from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- The admin aal2 policy.
--
-- One row of instance-wide security settings. The server writes admin_requires_aal2 at
-- start from GPTDESK_ADMIN_REQUIRES_AAL2 (as service_role); signed-in users may read it (a
-- client can tell an admin to step up); no request role may change it.
-- ---------------------------------------------------------------------------------------

create table if not exists public.security_settings (
    id boolean primary key default true check (id),
    admin_requires_aal2 boolean not null default false,
    updated_at timestamp with time zone not null default now()
);
insert into public.security_settings (id) values (true) on conflict (id) do nothing;

create or replace trigger set_updated_at before update on public.security_settings
  for each row execute function public.set_updated_at();

alter table public.security_settings enable row level security;
-- 0001's default privileges granted the API roles every row privilege; only the server
-- (service_role) updates, and nobody inserts or deletes: the row always exists.
revoke insert, update, delete, truncate on public.security_settings from anon, authenticated;
revoke insert, delete, truncate on public.security_settings from service_role;

drop policy if exists "Signed-in users can read the security settings"
  on public.security_settings;
create policy "Signed-in users can read the security settings" on public.security_settings
  for select to authenticated
  using (true);

-- Whether `user_uuid`'s admin powers are in force for this request. They are, unless all of
-- these hold: the policy is on, the request is a signed-in user's (role authenticated), it is
-- that user's own role being asked about, and the JWT's `aal` is not aal2. Trusted callers
-- (service_role, the auth service, the owner) and questions about other users are never
-- affected. Reached only through the helpers below, which run it as the owner.
--
-- These functions are PL/pgSQL, not SQL, for speed: policies call the helpers once per
-- query (InitPlans), and PL/pgSQL keeps its plans for the connection's life where a SQL
-- function is planned again on every query before PostgreSQL 18. bench/rls_helpers.py
-- measures it (bench/RESULTS.md): on 15, 8-14 µs a call against 28-32 µs for 0004's SQL
-- helpers (and 55-105 µs for SQL helpers calling a SQL check); on 18, 7-12 µs for both.
create or replace function public.admin_powers_in_force(user_uuid uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  claims jsonb;
begin
  if not coalesce((select s.admin_requires_aal2 from public.security_settings s), false) then
    return true;
  end if;
  claims := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb;
  return claims ->> 'role' is distinct from 'authenticated'
      or nullif(claims ->> 'sub', '')::uuid is distinct from user_uuid
      or coalesce(claims ->> 'aal' = 'aal2', false);
end
$$;

revoke execute on function public.admin_powers_in_force(uuid)
  from public, anon, authenticated, service_role;

-- The seed's helpers (0004), now answering with the powers in force: for a caller whose
-- admin powers wait for aal2, get_user_role says 'user' and the two predicates say false.
-- Every admin policy (0005) and guard (0004: guard_user_changes, guard_gpt_governance,
-- remove_team_member) decides through them, so the policy holds for every surface. A plain
-- user's call stops at the role; only an admin's reads the setting and the claims.
-- create or replace keeps their privileges (0004).
create or replace function public.get_user_role(user_uuid uuid)
returns public.user_role
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found_role public.user_role;
begin
  select u.role into found_role from public.users u where u.id = user_uuid;
  if found_role in ('admin', 'super_admin') and not public.admin_powers_in_force(user_uuid) then
    return 'user';
  end if;
  return found_role;
end
$$;

create or replace function public.is_admin_or_super(user_uuid uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found_role public.user_role;
begin
  select u.role into found_role from public.users u where u.id = user_uuid;
  return coalesce(found_role in ('admin', 'super_admin'), false)
         and public.admin_powers_in_force(user_uuid);
end
$$;

create or replace function public.is_super_admin(user_uuid uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found_role public.user_role;
begin
  select u.role into found_role from public.users u where u.id = user_uuid;
  return coalesce(found_role = 'super_admin', false)
         and public.admin_powers_in_force(user_uuid);
end
$$;
