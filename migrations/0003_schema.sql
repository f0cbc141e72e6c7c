-- 0003_schema: GPT Desk's data — extensions, the seed's enums and tables, plus `documents`
-- (files in storage, linked to a team and optionally a GPT) and `gpt_ratings` (one rating per
-- user and GPT, averaged into gpts.rating).
--
-- Names and columns are the seed's. Completed where the seed is silent: gen_random_uuid()
-- instead of uuid-ossp (absent from the embedded PostgreSQL), NOT NULL on columns that have a
-- default and no meaning when null, CHECK constraints on names, numbers and counters, a
-- document's object path kept inside its team's folder of the bucket, audit_logs.team_id (so
-- team admins can be given their team's audit rows), and owner columns that default to the
-- signed-in user (auth.uid()), as Supabase projects usually do.
set local lock_timeout = '5s';

-- Trigram search on GPT names (ILIKE '%…%' through an index); core in PG 15 and 18 alike.
create extension if not exists pg_trgm;

do $$ begin
  create type public.user_role as enum ('user', 'admin', 'super_admin');
exception when duplicate_object then null; end $$;

do $$ begin
  create type public.gpt_status as enum ('active', 'inactive', 'pending', 'suspended');
exception when duplicate_object then null; end $$;

do $$ begin
  create type public.chat_status as enum ('active', 'completed', 'archived');
exception when duplicate_object then null; end $$;

do $$ begin
  create type public.message_sender as enum ('user', 'gpt');
exception when duplicate_object then null; end $$;

do $$ begin
  create type public.approval_status as enum ('approved', 'pending', 'rejected');
exception when duplicate_object then null; end $$;

do $$ begin
  create type public.risk_level as enum ('low', 'medium', 'high');
exception when duplicate_object then null; end $$;

do $$ begin
  create type public.access_level as enum ('team', 'organization');
exception when duplicate_object then null; end $$;

-- Tenants. member_count is kept by a trigger on public.users.
create table if not exists public.teams (
    id uuid primary key default gen_random_uuid(),
    name varchar(255) not null check (btrim(name) <> ''),
    description text,
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    member_count integer not null default 0 check (member_count >= 0),
    settings jsonb not null default '{}'::jsonb
);

-- Profiles, one per auth.users row (created by a trigger on auth.users).
create table if not exists public.users (
    id uuid primary key references auth.users (id) on delete cascade,
    email varchar(255) unique not null,
    full_name varchar(255) not null check (btrim(full_name) <> ''),
    role public.user_role not null default 'user',
    team_id uuid references public.teams (id) on delete set null,
    avatar_url text,
    status varchar(50) not null default 'active' check (btrim(status) <> ''),
    last_active timestamp with time zone default now(),
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    preferences jsonb not null default '{}'::jsonb
);

-- Assistants. rating is the average of gpt_ratings; the governance columns (approval_status,
-- risk_level, compliance_score, monthly_cost, usage_count, rating) are guarded by a trigger.
create table if not exists public.gpts (
    id uuid primary key default gen_random_uuid(),
    name varchar(255) not null check (btrim(name) <> ''),
    description text,
    category varchar(100),
    status public.gpt_status not null default 'active',
    creator_id uuid default auth.uid() references public.users (id) on delete set null,
    team_id uuid references public.teams (id) on delete cascade,
    -- configuration
    prompt text,
    model varchar(100) not null default 'gpt-4' check (btrim(model) <> ''),
    temperature decimal(3, 2) not null default 0.7 check (temperature between 0 and 2),
    max_tokens integer not null default 2000 check (max_tokens > 0),
    -- metadata
    usage_count integer not null default 0 check (usage_count >= 0),
    rating decimal(3, 2) not null default 0.0 check (rating between 0 and 5),
    tags text[] not null default '{}',
    is_public boolean not null default false,
    web_access boolean not null default false,
    -- governance
    approval_status public.approval_status not null default 'pending',
    risk_level public.risk_level not null default 'low',
    access_level public.access_level not null default 'team',
    compliance_score integer not null default 0 check (compliance_score between 0 and 100),
    monthly_cost decimal(10, 2) not null default 0.00 check (monthly_cost >= 0),
    settings jsonb not null default '{}'::jsonb,
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now()
);

-- Conversations; private to their user. message_count is kept by a trigger on chat_messages.
create table if not exists public.chat_sessions (
    id uuid primary key default gen_random_uuid(),
    title varchar(500) not null check (btrim(title) <> ''),
    user_id uuid not null default auth.uid() references public.users (id) on delete cascade,
    gpt_id uuid references public.gpts (id) on delete cascade,
    status public.chat_status not null default 'active',
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    message_count integer not null default 0 check (message_count >= 0),
    context jsonb not null default '{}'::jsonb,
    settings jsonb not null default '{}'::jsonb
);

create table if not exists public.chat_messages (
    id uuid primary key default gen_random_uuid(),
    session_id uuid not null references public.chat_sessions (id) on delete cascade,
    sender public.message_sender not null,
    content text not null,
    created_at timestamp with time zone not null default now(),
    metadata jsonb not null default '{}'::jsonb,
    tokens_used integer not null default 0 check (tokens_used >= 0),
    response_time_ms integer not null default 0 check (response_time_ms >= 0)
);

-- One row per metered LLM call, written by the server (SECURITY DEFINER code or service_role).
create table if not exists public.usage_analytics (
    id uuid primary key default gen_random_uuid(),
    user_id uuid references public.users (id) on delete cascade,
    gpt_id uuid references public.gpts (id) on delete cascade,
    session_id uuid references public.chat_sessions (id) on delete cascade,
    team_id uuid references public.teams (id) on delete cascade,
    tokens_used integer not null default 0 check (tokens_used >= 0),
    response_time_ms integer not null default 0 check (response_time_ms >= 0),
    cost decimal(10, 4) not null default 0.0000 check (cost >= 0),
    created_at timestamp with time zone not null default now(),
    date date not null default current_date,
    metrics jsonb not null default '{}'::jsonb
);

-- Append-only through the API: written by public.log_action() (and the server), never
-- updated or deleted by the request roles. team_id is the actor's team at the time.
create table if not exists public.audit_logs (
    id uuid primary key default gen_random_uuid(),
    user_id uuid references public.users (id) on delete set null,
    team_id uuid references public.teams (id) on delete set null,
    action varchar(100) not null check (btrim(action) <> ''),
    resource_type varchar(100) not null check (btrim(resource_type) <> ''),
    resource_id uuid,
    details jsonb not null default '{}'::jsonb,
    ip_address inet,
    user_agent text,
    created_at timestamp with time zone not null default now()
);

-- Files kept by the storage service: one row per stored object a team uploaded. The object
-- lives in its team's folder of the bucket, `<team_id>/…` (see the constraint below).
create table if not exists public.documents (
    id uuid primary key default gen_random_uuid(),
    team_id uuid not null references public.teams (id) on delete cascade,
    user_id uuid default auth.uid() references public.users (id) on delete set null,
    gpt_id uuid references public.gpts (id) on delete set null,
    bucket text not null default 'gpt-desk-files' check (btrim(bucket) <> ''),
    object_path text not null check (btrim(object_path) <> ''),
    name text not null check (btrim(name) <> ''),
    size_bytes bigint not null default 0 check (size_bytes >= 0),
    mime_type text,
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    unique (bucket, object_path)
);

-- A document row points only into its own team's folder: object_path starts with
-- `<team_id>/` (the uuid as team_id::text spells it, lower case), which the storage policies
-- key on, and names an object there, not a folder (it does not end with '/', so neither the
-- team folder itself nor a subfolder). Without it a member of team B could record a row of
-- team B pointing at team A's object and reach it through team B's document endpoints.
-- Dropped and added again so the file can run again.
alter table public.documents drop constraint if exists documents_object_path_in_team_folder;
alter table public.documents add constraint documents_object_path_in_team_folder
    check (starts_with(object_path, team_id::text || '/') and right(object_path, 1) <> '/');

create table if not exists public.gpt_ratings (
    gpt_id uuid not null references public.gpts (id) on delete cascade,
    user_id uuid not null default auth.uid() references public.users (id) on delete cascade,
    rating smallint not null check (rating between 1 and 5),
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    primary key (gpt_id, user_id)
);
