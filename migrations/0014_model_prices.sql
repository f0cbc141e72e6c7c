-- 0014_model_prices: what a model's tokens cost, for the chat gateway's cost accounting.
--
-- One row per model and date from which its price holds: input (prompt) and output
-- (completion) tokens are priced separately, per million tokens, in a currency. A new
-- price is a new row with a later effective_from, so costs already recorded keep the
-- price they were made at. Every signed-in user may read the prices (what a GPT costs is
-- no secret inside the company); super admins maintain them; service_role (the server)
-- as well. A model with no row is unpriced: usage_cost() answers null, never a guess.

set local lock_timeout = '5s';

create table if not exists public.model_prices (
    id uuid primary key default gen_random_uuid(),
    model varchar(200) not null check (btrim(model) <> ''),
    input_per_million numeric(14, 6) not null check (input_per_million >= 0),
    output_per_million numeric(14, 6) not null check (output_per_million >= 0),
    currency char(3) not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
    effective_from timestamp with time zone not null default now(),
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    unique (model, effective_from)
);

create or replace trigger set_updated_at before update on public.model_prices
  for each row execute function public.set_updated_at();

alter table public.model_prices enable row level security;
revoke all on public.model_prices from anon;
revoke truncate on public.model_prices from authenticated, service_role;

drop policy if exists "Signed-in users can read model prices" on public.model_prices;
create policy "Signed-in users can read model prices" on public.model_prices
  for select to authenticated
  using (true);

drop policy if exists "Super admins can add model prices" on public.model_prices;
create policy "Super admins can add model prices" on public.model_prices
  for insert to authenticated
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can change model prices" on public.model_prices;
create policy "Super admins can change model prices" on public.model_prices
  for update to authenticated
  using ((select public.is_super_admin(auth.uid())))
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can remove model prices" on public.model_prices;
create policy "Super admins can remove model prices" on public.model_prices
  for delete to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- Public list prices (USD per million tokens) of common models, as their providers publish
-- them; the built-in offline model costs nothing. Admins add rows as prices change.
insert into public.model_prices (model, input_per_million, output_per_million, effective_from)
values
  ('gpt-4o', 2.50, 10.00, '2025-01-01'),
  ('gpt-4o-mini', 0.15, 0.60, '2025-01-01'),
  ('gpt-4.1', 2.00, 8.00, '2025-04-14'),
  ('gpt-4.1-mini', 0.40, 1.60, '2025-04-14'),
  ('gpt-4.1-nano', 0.10, 0.40, '2025-04-14'),
  ('gpt-4-turbo', 10.00, 30.00, '2025-01-01'),
  ('gpt-4', 30.00, 60.00, '2025-01-01'),
  ('gpt-3.5-turbo', 0.50, 1.50, '2025-01-01'),
  ('o1', 15.00, 60.00, '2025-01-01'),
  ('o3-mini', 1.10, 4.40, '2025-01-31'),
  ('o4-mini', 1.10, 4.40, '2025-04-16'),
  ('claude-3-5-sonnet', 3.00, 15.00, '2025-01-01'),
  ('claude-3-5-haiku', 0.80, 4.00, '2025-01-01'),
  ('claude-3-opus', 15.00, 75.00, '2025-01-01'),
  ('gemini-1.5-pro', 1.25, 5.00, '2025-01-01'),
  ('gemini-1.5-flash', 0.075, 0.30, '2025-01-01'),
  ('offline', 0, 0, '2025-01-01')
on conflict (model, effective_from) do nothing;

-- The price of `model` in effect at `at`, or no row when the model is unpriced.
create or replace function public.price_of(model text, at timestamp with time zone default now())
returns public.model_prices
language sql
stable
security invoker
set search_path = ''
as $$
  select p.* from public.model_prices p
   where p.model = price_of.model and p.effective_from <= price_of.at
   order by p.effective_from desc
   limit 1
$$;

-- What `prompt_tokens` in and `completion_tokens` out of `model` cost at `at`, unrounded, in
-- the price's currency; null when the model has no price then.
create or replace function public.usage_cost(
  model text, prompt_tokens bigint, completion_tokens bigint,
  at timestamp with time zone default now()
)
returns numeric
language sql
stable
security invoker
set search_path = ''
as $$
  select (usage_cost.prompt_tokens * p.input_per_million
          + usage_cost.completion_tokens * p.output_per_million) / 1000000
    from public.price_of(usage_cost.model, usage_cost.at) p
   where p.id is not null
$$;

revoke all on function public.price_of(text, timestamp with time zone) from public, anon;
revoke all on function public.usage_cost(text, bigint, bigint, timestamp with time zone)
  from public, anon;
grant execute on function public.price_of(text, timestamp with time zone)
  to authenticated, service_role;
grant execute on function public.usage_cost(text, bigint, bigint, timestamp with time zone)
  to authenticated, service_role;
