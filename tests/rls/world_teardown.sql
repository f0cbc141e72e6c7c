-- Removes the world of world.sql again (run by the owner when the RLS cases are done), so
-- other tests sharing the database never see it; its audit rows stay (the trail is
-- append-only). Deleting the teams and the sign-in
-- identities cascades to everything else the world made but the provider, which belongs to
-- no team (its key goes with it).

delete from public.teams
 where id in ('10000000-0000-4000-8000-00000000000a', '10000000-0000-4000-8000-00000000000b');

delete from auth.users
 where id in ('20000000-0000-4000-8000-0000000000a1', '20000000-0000-4000-8000-0000000000a2',
              '20000000-0000-4000-8000-0000000000b1', '20000000-0000-4000-8000-000000000005',
              '20000000-0000-4000-8000-0000000000ff');

delete from public.llm_providers where id = 'a0000000-0000-4000-8000-000000000001';
