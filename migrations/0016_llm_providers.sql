-- 0016_llm_providers: where the chat gateway sends a GPT's conversation, and the role the
-- gateway records answers as.
--
-- A provider is an OpenAI-compatible HTTP API (kind 'openai': OpenAI, Azure OpenAI, Ollama,
-- vLLM, LM Studio, llama.cpp server …) or the built-in offline model (kind 'offline'). It
-- serves the models listed in `models`; a GPT whose model no provider lists goes to the
-- default provider (at most one is `is_default`). Super admins manage providers; nobody else
-- reads them (base URLs of internal model servers are infrastructure, not user data).
--
-- A provider's API key is kept apart, in llm_provider_secrets, sealed by the server
-- (AES-256-GCM under a key derived from the server secret, bound to the provider's id) and
-- readable by no API role at all: not through /rest/v1, not by super admins. The server
-- writes it through set_provider_key() and reads it as `gptdesk_gateway`.
--
-- `gptdesk_gateway` is the chat gateway's role (like `gptdesk_auth` for the auth service):
-- NOLOGIN, reachable only through the authenticator and only by the server's own code, never
-- named by a JWT. It records what a model answered (0017) and reads the provider table.
set local lock_timeout = '5s';

do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'gptdesk_gateway') then
    begin
      create role gptdesk_gateway nologin noinherit;
    exception when duplicate_object or unique_violation then
      null;  -- created meanwhile by a migration of another database
    end;
  end if;
  if not pg_catalog.pg_has_role('authenticator', 'gptdesk_gateway', 'member') then
    begin
      grant gptdesk_gateway to authenticator;
    exception when duplicate_object or unique_violation then
      null;
    end;
  end if;
end
$$;

grant usage on schema public to gptdesk_gateway;

create table if not exists public.llm_providers (
    id uuid primary key default gen_random_uuid(),
    name varchar(100) not null unique check (btrim(name) <> ''),
    kind text not null check (kind in ('openai', 'offline')),
    -- the API's base URL (…/v1); null: the SDK's default (api.openai.com)
    base_url text check (base_url ~ '^https?://[^\s]+$'),
    models text[] not null default '{}'
      check (array_position(models, null) is null and array_position(models, '') is null),
    is_default boolean not null default false,
    enabled boolean not null default true,
    timeout_seconds double precision not null default 60 check (timeout_seconds > 0 and timeout_seconds <= 3600),
    max_retries integer not null default 2 check (max_retries between 0 and 10),
    -- the offline model's pause between words, for demos
    pace_ms integer not null default 0 check (pace_ms between 0 and 10000),
    -- enough of the key to recognise it ('sk-…wxyz'); set with the key, never the key
    api_key_hint varchar(24),
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    check (kind = 'openai' or base_url is null)
);

create unique index if not exists llm_providers_one_default
  on public.llm_providers (is_default) where is_default;

create or replace trigger set_updated_at before update on public.llm_providers
  for each row execute function public.set_updated_at();

create table if not exists public.llm_provider_secrets (
    provider_id uuid primary key references public.llm_providers (id) on delete cascade,
    api_key_sealed text not null check (api_key_sealed like 'v1.%'),
    updated_at timestamp with time zone not null default now()
);

alter table public.llm_providers enable row level security;
alter table public.llm_provider_secrets enable row level security;
revoke all on public.llm_providers from anon;
revoke truncate on public.llm_providers from authenticated, service_role;
revoke all on public.llm_provider_secrets from public, anon, authenticated, service_role;
grant select on public.llm_providers, public.llm_provider_secrets to gptdesk_gateway;

drop policy if exists "Super admins can view providers" on public.llm_providers;
create policy "Super admins can view providers" on public.llm_providers
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can add providers" on public.llm_providers;
create policy "Super admins can add providers" on public.llm_providers
  for insert to authenticated
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can change providers" on public.llm_providers;
create policy "Super admins can change providers" on public.llm_providers
  for update to authenticated
  using ((select public.is_super_admin(auth.uid())))
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can remove providers" on public.llm_providers;
create policy "Super admins can remove providers" on public.llm_providers
  for delete to authenticated
  using ((select public.is_super_admin(auth.uid())));

drop policy if exists "The gateway reads providers" on public.llm_providers;
create policy "The gateway reads providers" on public.llm_providers
  for select to gptdesk_gateway
  using (true);

drop policy if exists "The gateway reads provider keys" on public.llm_provider_secrets;
create policy "The gateway reads provider keys" on public.llm_provider_secrets
  for select to gptdesk_gateway
  using (true);

-- Sets (or with null, removes) the sealed API key of a provider the caller may change: a
-- super admin's, or the server's as service_role, with the hint shown in its place. The
-- value must be sealed (the server seals it; a plaintext key is refused, so none is ever
-- stored in the clear). Audited.
create or replace function public.set_provider_key(
  provider_id uuid, api_key_sealed text, api_key_hint text default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  if not (auth.role() = 'service_role' or public.is_super_admin(auth.uid())) then
    raise exception using
      errcode = '42501',
      message = 'only super admins may set provider keys';
  end if;
  if not exists (select from public.llm_providers p where p.id = set_provider_key.provider_id)
  then
    raise exception using
      errcode = 'PT404',
      message = 'no such provider',
      detail = pg_catalog.format('provider %s', set_provider_key.provider_id);
  end if;
  if set_provider_key.api_key_sealed is null then
    delete from public.llm_provider_secrets s where s.provider_id = set_provider_key.provider_id;
    update public.llm_providers p set api_key_hint = null where p.id = set_provider_key.provider_id;
  elsif set_provider_key.api_key_sealed not like 'v1.%' then
    raise exception using
      errcode = '22023',
      message = 'the key must be sealed by the server';
  else
    insert into public.llm_provider_secrets as s (provider_id, api_key_sealed)
    values (set_provider_key.provider_id, set_provider_key.api_key_sealed)
    on conflict (provider_id) do update
      set api_key_sealed = excluded.api_key_sealed, updated_at = now();
    update public.llm_providers p
       set api_key_hint = pg_catalog.left(set_provider_key.api_key_hint, 24)
     where p.id = set_provider_key.provider_id;
  end if;
  if auth.uid() is not null then
    perform public.log_action(
      case when set_provider_key.api_key_sealed is null then 'provider.key_removed'
           else 'provider.key_set' end,
      'llm_provider', set_provider_key.provider_id, '{}'::jsonb);
  end if;
end
$$;

revoke execute on function public.set_provider_key(uuid, text, text) from public, anon;
grant execute on function public.set_provider_key(uuid, text, text) to authenticated, service_role;

-- Provider changes are audited in the same transaction (what changed, never a key).
create or replace function public.audit_provider_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if auth.uid() is null then
    return null;  -- migrations and the server's own maintenance
  end if;
  perform public.log_action(
    'provider.' || case tg_op when 'INSERT' then 'created'
                              when 'UPDATE' then 'changed' else 'removed' end,
    'llm_provider',
    coalesce(new.id, old.id),
    pg_catalog.jsonb_build_object(
      'name', coalesce(new.name, old.name),
      'before', case when tg_op <> 'INSERT' then pg_catalog.to_jsonb(old) end,
      'after', case when tg_op <> 'DELETE' then pg_catalog.to_jsonb(new) end));
  return null;
end
$$;

revoke execute on function public.audit_provider_change()
  from public, anon, authenticated, service_role;

create or replace trigger audit_provider_change
  after insert or update or delete on public.llm_providers
  for each row execute function public.audit_provider_change();
