-- 0002_auth: the `auth` schema — GoTrue-shaped `auth.users` and the claim readers
-- auth.uid(), auth.role(), auth.email(), auth.jwt() that policies use.
--
-- Claims come from the transaction-local setting `request.jwt.claims`, set by the request
-- scope (src/gptdesk/db/scope.py). On a pooled connection a local setting that was set once
-- reads back as '' (not NULL) after its transaction, so every reader goes through
-- nullif(…, '') before the ::jsonb cast; the sub-select keeps the read an InitPlan.
set local lock_timeout = '5s';

create schema if not exists auth;

-- Column names and types follow GoTrue's auth.users, so the auth service and tools that know
-- Supabase read it as they expect.
create table if not exists auth.users (
    instance_id uuid,
    id uuid primary key default gen_random_uuid(),
    aud varchar(255),
    role varchar(255),
    email varchar(255),
    encrypted_password varchar(255),
    email_confirmed_at timestamp with time zone,
    invited_at timestamp with time zone,
    confirmation_token varchar(255),
    confirmation_sent_at timestamp with time zone,
    recovery_token varchar(255),
    recovery_sent_at timestamp with time zone,
    email_change_token_new varchar(255),
    email_change varchar(255),
    email_change_sent_at timestamp with time zone,
    email_change_token_current varchar(255) default '',
    email_change_confirm_status smallint default 0
        check (email_change_confirm_status between 0 and 2),
    last_sign_in_at timestamp with time zone,
    raw_app_meta_data jsonb,
    raw_user_meta_data jsonb,
    is_super_admin boolean,
    created_at timestamp with time zone default now(),
    updated_at timestamp with time zone default now(),
    phone text default null,
    phone_confirmed_at timestamp with time zone,
    phone_change text default '',
    phone_change_token varchar(255) default '',
    phone_change_sent_at timestamp with time zone,
    confirmed_at timestamp with time zone
        generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
    banned_until timestamp with time zone,
    reauthentication_token varchar(255) default '',
    reauthentication_sent_at timestamp with time zone,
    is_sso_user boolean not null default false,
    deleted_at timestamp with time zone,
    is_anonymous boolean not null default false
);

comment on table auth.users is
    'Sign-in identities (GoTrue shape). public.users holds the GPT Desk profile of each.';

-- One live account per address, compared case-insensitively, as GoTrue enforces it.
create unique index if not exists users_email_partial_key
    on auth.users (lower(email))
    where email is not null and is_anonymous = false and deleted_at is null;
create unique index if not exists users_phone_key
    on auth.users (phone)
    where phone is not null and phone <> '' and deleted_at is null;
create index if not exists users_instance_id_idx on auth.users (instance_id);
create index if not exists users_is_anonymous_idx on auth.users (is_anonymous);
create unique index if not exists confirmation_token_idx
    on auth.users (confirmation_token) where confirmation_token !~ '^[0-9 ]*$';
create unique index if not exists recovery_token_idx
    on auth.users (recovery_token) where recovery_token !~ '^[0-9 ]*$';

-- The claims of the current request's JWT, or NULL outside a request.
create or replace function auth.jwt()
returns jsonb
language sql
stable
set search_path = ''
as $$
  select (select nullif(current_setting('request.jwt.claims', true), '')::jsonb)
$$;

-- The signed-in user's id (the JWT's `sub`), or NULL for anon and service keys.
create or replace function auth.uid()
returns uuid
language sql
stable
set search_path = ''
as $$
  select nullif((select nullif(current_setting('request.jwt.claims', true), '')::jsonb) ->> 'sub', '')::uuid
$$;

-- The JWT's `role` claim: 'anon', 'authenticated' or 'service_role'.
create or replace function auth.role()
returns text
language sql
stable
set search_path = ''
as $$
  select (select nullif(current_setting('request.jwt.claims', true), '')::jsonb) ->> 'role'
$$;

-- The JWT's `email` claim.
create or replace function auth.email()
returns text
language sql
stable
set search_path = ''
as $$
  select (select nullif(current_setting('request.jwt.claims', true), '')::jsonb) ->> 'email'
$$;

-- The API roles may call the claim readers (policies run as them) but never read the
-- auth tables: passwords, tokens and other users' addresses live there. The auth service
-- reaches them through the migrating (owner) role.
grant usage on schema auth to anon, authenticated, service_role;
grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email()
    to anon, authenticated, service_role;
revoke all on all tables in schema auth from public, anon, authenticated, service_role;
