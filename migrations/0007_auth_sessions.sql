-- 0007_auth_sessions: what the GoTrue-compatible auth service keeps — sessions, rotating
-- refresh tokens, identities — and the role it works as.
--
-- The auth service (src/gptdesk/auth/) is the only writer of the auth schema. It runs as
-- `gptdesk_auth` (like Supabase's supabase_auth_admin): NOLOGIN, reachable only through the
-- authenticator and only by the server's own code — the request scope never lets a JWT's
-- `role` claim name it. It may read and write the auth tables and nothing in public beyond
-- what SECURITY DEFINER functions and triggers do for it (profiles, audit rows).
set local lock_timeout = '5s';

do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'gptdesk_auth') then
    begin
      create role gptdesk_auth nologin noinherit;
    exception when duplicate_object or unique_violation then
      null;  -- created meanwhile by a migration of another database
    end;
  end if;
  if not pg_catalog.pg_has_role('authenticator', 'gptdesk_auth', 'member') then
    begin
      grant gptdesk_auth to authenticator;
    exception when duplicate_object or unique_violation then
      null;
    end;
  end if;
end
$$;

-- One row per signed-in device: refresh tokens and access tokens carry its id.
create table if not exists auth.sessions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references auth.users (id) on delete cascade,
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    refreshed_at timestamp with time zone,
    aal text not null default 'aal1' check (aal in ('aal1', 'aal2')),
    -- Authentication methods used, as the access token's `amr` claim lists them.
    amr jsonb not null default '[]'::jsonb,
    not_after timestamp with time zone,
    user_agent text,
    ip inet
);
create index if not exists sessions_user_id_idx on auth.sessions (user_id, created_at);

-- Refresh tokens are opaque to clients and stored only as SHA-256 hashes. Each refresh
-- revokes the token presented and issues its child; `parent` links a family so that reuse
-- of an old token can revoke the whole session (GoTrue's rotation and reuse rules).
create table if not exists auth.refresh_tokens (
    id bigint generated always as identity primary key,
    token_hash text not null unique,
    user_id uuid not null references auth.users (id) on delete cascade,
    session_id uuid not null references auth.sessions (id) on delete cascade,
    parent_hash text,
    revoked boolean not null default false,
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now()
);
create index if not exists refresh_tokens_session_idx
    on auth.refresh_tokens (session_id, revoked, id desc);
create index if not exists refresh_tokens_parent_idx on auth.refresh_tokens (parent_hash);

-- How a user proves who they are; GPT Desk has the email provider (others may follow).
create table if not exists auth.identities (
    id uuid primary key default gen_random_uuid(),
    provider_id text not null,
    user_id uuid not null references auth.users (id) on delete cascade,
    identity_data jsonb not null default '{}'::jsonb,
    provider text not null,
    last_sign_in_at timestamp with time zone,
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    email text generated always as (lower(identity_data ->> 'email')) stored,
    unique (provider_id, provider)
);
create index if not exists identities_user_id_idx on auth.identities (user_id);

-- The auth service's rights: the auth schema, nothing else directly. The API roles keep
-- no access to these tables (0002 revoked it for the tables there; these are new).
grant usage on schema auth to gptdesk_auth;
grant select, insert, update, delete on
  auth.users, auth.sessions, auth.refresh_tokens, auth.identities
  to gptdesk_auth;
revoke all on auth.sessions, auth.refresh_tokens, auth.identities
  from public, anon, authenticated, service_role;

-- Audit rows of auth events are written in the same transaction as the event.
grant execute on function public.log_action(text, text, uuid, jsonb) to gptdesk_auth;
