-- rate_gpt(gpt_id, rating): the seed's "rate a GPT" as one call through /rest/v1/rpc.
--
-- One vote per user and GPT (a second call changes the vote); gpts.rating is recomputed by
-- the gpt_ratings trigger and returned. SECURITY INVOKER: the caller's policies decide
-- which GPTs they may rate, exactly as an insert into gpt_ratings would.

set local lock_timeout = '5s';

create or replace function public.rate_gpt(gpt_id uuid, rating integer)
returns numeric
language plpgsql
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  average numeric;
begin
  if rate_gpt.rating is null or rate_gpt.rating not between 1 and 5 then
    raise exception 'rating must be between 1 and 5' using errcode = '22023';
  end if;
  if auth.uid() is null then
    raise exception 'only a signed-in user can rate a GPT' using errcode = '42501';
  end if;
  if not exists (select from public.gpts g where g.id = rate_gpt.gpt_id) then
    raise exception 'GPT % not found', rate_gpt.gpt_id
      using errcode = 'PT404', hint = 'The GPT does not exist or you may not see it.';
  end if;
  insert into public.gpt_ratings as r (gpt_id, user_id, rating)
  values (rate_gpt.gpt_id, auth.uid(), rate_gpt.rating)
  on conflict (gpt_id, user_id)
    do update set rating = excluded.rating, updated_at = now();
  select g.rating into average from public.gpts g where g.id = rate_gpt.gpt_id;
  return average;
end
$$;

revoke all on function public.rate_gpt(uuid, integer) from public, anon;
grant execute on function public.rate_gpt(uuid, integer) to authenticated, service_role;
