-- The small world the RLS case table (cases.yaml) runs against, with fixed ids.
--
-- Run by the owner (superuser) on a migrated database; running it again changes nothing.
-- Profiles are made by the auth.users trigger, with role and team taken from
-- raw_app_meta_data as the auth service sets them for invitations; counters
-- (member_count, message_count, rating, usage_count) are kept by their triggers.
--
--   team A  10000000-0000-4000-8000-00000000000a
--     user_a   20000000-…-0000000000a1  role user   creator of gpt_a_private
--     admin_a  20000000-…-0000000000a2  role admin  creator of gpt_a_public
--   team B  10000000-0000-4000-8000-00000000000b
--     user_b   20000000-…-0000000000b1  role user   creator of gpt_b_private
--   super_admin 20000000-…-000000000005  role super_admin, in no team
--   orphan      20000000-…-0000000000ff  a phone-only sign-in identity: no profile
--
-- Documents lie in their team's folder of the bucket, `<team id>/documents/<name>`: two of
-- team A (user_a's handbook.pdf, admin_a's policies.md) and one of team B (user_b's
-- notes.txt).
--
-- Invitations: team A has a pending one and a revoked one from admin_a, team B a pending
-- one from the super admin.
--
-- The chat gateway (0016, 0017): one provider (belonging to no team; disabled, so it never
-- serves a chat) with its sealed key, and user_a's question in session_a as a completed
-- turn answered by reply_a. gpt_monthly_usage gets its row for gpt_a_private from
-- usage_a, by the usage_analytics trigger, and so do the daily rollups (0022).
--
-- Budgets (0022): team A's and team B's, and one alert of team A's budget. GPT versions
-- (0023) are made by the gpts trigger.

insert into public.teams (id, name, description) values
  ('10000000-0000-4000-8000-00000000000a', 'Team A', 'RLS world: team A'),
  ('10000000-0000-4000-8000-00000000000b', 'Team B', 'RLS world: team B')
on conflict (id) do nothing;

insert into auth.users (id, aud, role, email, phone, email_confirmed_at, raw_app_meta_data, raw_user_meta_data)
values
  ('20000000-0000-4000-8000-0000000000a1', 'authenticated', 'authenticated',
   'user_a@team-a.test', null, now(),
   '{"provider": "email", "providers": ["email"], "role": "user", "team_id": "10000000-0000-4000-8000-00000000000a"}',
   '{"full_name": "User A"}'),
  ('20000000-0000-4000-8000-0000000000a2', 'authenticated', 'authenticated',
   'admin_a@team-a.test', null, now(),
   '{"provider": "email", "providers": ["email"], "role": "admin", "team_id": "10000000-0000-4000-8000-00000000000a"}',
   '{"name": "Admin A"}'),
  ('20000000-0000-4000-8000-0000000000b1', 'authenticated', 'authenticated',
   'user_b@team-b.test', null, now(),
   '{"provider": "email", "providers": ["email"], "team_id": "10000000-0000-4000-8000-00000000000b"}',
   '{}'),
  ('20000000-0000-4000-8000-000000000005', 'authenticated', 'authenticated',
   'super@gptdesk.test', null, now(),
   '{"provider": "email", "providers": ["email"], "role": "super_admin"}',
   '{"full_name": "Super Admin"}'),
  ('20000000-0000-4000-8000-0000000000ff', 'authenticated', 'authenticated',
   null, '15550000001', null,
   '{"provider": "phone", "providers": ["phone"]}',
   '{}')
on conflict (id) do nothing;

insert into public.gpts
  (id, name, description, team_id, creator_id, status, approval_status, is_public, created_at)
values
  ('30000000-0000-4000-8000-0000000000a1', 'Team A private GPT', 'Only team A sees it',
   '10000000-0000-4000-8000-00000000000a', '20000000-0000-4000-8000-0000000000a1',
   'active', 'approved', false, now() - interval '2 days'),
  ('30000000-0000-4000-8000-0000000000a2', 'Team A public GPT', 'Every signed-in user sees it',
   '10000000-0000-4000-8000-00000000000a', '20000000-0000-4000-8000-0000000000a2',
   'active', 'approved', true, now() - interval '1 day'),
  ('30000000-0000-4000-8000-0000000000b1', 'Team B private GPT', 'Only team B sees it',
   '10000000-0000-4000-8000-00000000000b', '20000000-0000-4000-8000-0000000000b1',
   'active', 'approved', false, now() - interval '1 day')
on conflict (id) do nothing;

insert into public.chat_sessions (id, title, user_id, gpt_id) values
  ('40000000-0000-4000-8000-0000000000a1', 'User A asks the team GPT',
   '20000000-0000-4000-8000-0000000000a1', '30000000-0000-4000-8000-0000000000a1')
on conflict (id) do nothing;

insert into public.chat_messages (id, session_id, sender, content, tokens_used, created_at) values
  ('50000000-0000-4000-8000-0000000000a1', '40000000-0000-4000-8000-0000000000a1',
   'user', 'What is our travel policy?', 7, now() - interval '1 minute'),
  ('50000000-0000-4000-8000-0000000000a2', '40000000-0000-4000-8000-0000000000a1',
   'gpt', 'Book economy and file receipts within 30 days.', 12, now())
on conflict (id) do nothing;

insert into public.usage_analytics
  (id, user_id, gpt_id, session_id, team_id, tokens_used, response_time_ms, cost, metrics)
values
  ('60000000-0000-4000-8000-0000000000a1', '20000000-0000-4000-8000-0000000000a1',
   '30000000-0000-4000-8000-0000000000a1', '40000000-0000-4000-8000-0000000000a1',
   '10000000-0000-4000-8000-00000000000a', 19, 850, 0.0004, '{"model": "gpt-4"}')
on conflict (id) do nothing;

insert into public.audit_logs
  (id, user_id, team_id, action, resource_type, resource_id, details, ip_address, user_agent)
values
  ('70000000-0000-4000-8000-0000000000a1', '20000000-0000-4000-8000-0000000000a2',
   '10000000-0000-4000-8000-00000000000a', 'gpt.approved', 'gpt',
   '30000000-0000-4000-8000-0000000000a1', '{"from": "pending", "to": "approved"}',
   '192.0.2.10', 'rls-world')
on conflict (id) do nothing;

insert into public.documents
  (id, team_id, user_id, gpt_id, object_path, name, size_bytes, mime_type)
values
  ('80000000-0000-4000-8000-0000000000a1', '10000000-0000-4000-8000-00000000000a',
   '20000000-0000-4000-8000-0000000000a1', '30000000-0000-4000-8000-0000000000a1',
   '10000000-0000-4000-8000-00000000000a/documents/handbook.pdf', 'handbook.pdf', 48213,
   'application/pdf'),
  ('80000000-0000-4000-8000-0000000000a2', '10000000-0000-4000-8000-00000000000a',
   '20000000-0000-4000-8000-0000000000a2', null,
   '10000000-0000-4000-8000-00000000000a/documents/policies.md', 'policies.md', 1024,
   'text/markdown'),
  ('80000000-0000-4000-8000-0000000000b1', '10000000-0000-4000-8000-00000000000b',
   '20000000-0000-4000-8000-0000000000b1', '30000000-0000-4000-8000-0000000000b1',
   '10000000-0000-4000-8000-00000000000b/documents/notes.txt', 'notes.txt', 512,
   'text/plain')
on conflict (id) do nothing;

insert into public.gpt_ratings (gpt_id, user_id, rating) values
  ('30000000-0000-4000-8000-0000000000a1', '20000000-0000-4000-8000-0000000000a1', 5)
on conflict (gpt_id, user_id) do nothing;

insert into public.team_invitations
  (id, team_id, email, role, token_hash, invited_by, created_at, expires_at, revoked_at)
values
  ('90000000-0000-4000-8000-0000000000a1', '10000000-0000-4000-8000-00000000000a',
   'invitee@team-a.test', 'user', repeat('a', 64), '20000000-0000-4000-8000-0000000000a2',
   now(), now() + interval '7 days', null),
  ('90000000-0000-4000-8000-0000000000a2', '10000000-0000-4000-8000-00000000000a',
   'revoked@team-a.test', 'admin', repeat('e', 64), '20000000-0000-4000-8000-0000000000a2',
   now() - interval '1 day', now() + interval '6 days', now()),
  ('90000000-0000-4000-8000-0000000000b1', '10000000-0000-4000-8000-00000000000b',
   'invitee@team-b.test', 'user', repeat('b', 64), '20000000-0000-4000-8000-000000000005',
   now(), now() + interval '7 days', null)
on conflict (id) do nothing;

insert into public.llm_providers (id, name, kind, enabled) values
  ('a0000000-0000-4000-8000-000000000001', 'rls-world-offline', 'offline', false)
on conflict (id) do nothing;

insert into public.llm_provider_secrets (provider_id, api_key_sealed) values
  ('a0000000-0000-4000-8000-000000000001', 'v1.rls-world-not-a-real-key')
on conflict (provider_id) do nothing;

insert into public.chat_turns
  (id, user_id, session_id, gpt_id, user_message_id, gpt_message_id, status, finished_at)
values
  ('b0000000-0000-4000-8000-0000000000a1', '20000000-0000-4000-8000-0000000000a1',
   '40000000-0000-4000-8000-0000000000a1', '30000000-0000-4000-8000-0000000000a1',
   '50000000-0000-4000-8000-0000000000a1', '50000000-0000-4000-8000-0000000000a2',
   'completed', now())
on conflict (id) do nothing;

insert into public.budgets (id, team_id, monthly_limit, thresholds) values
  ('c0000000-0000-4000-8000-0000000000a1', '10000000-0000-4000-8000-00000000000a', 100, '{80,100}'),
  ('c0000000-0000-4000-8000-0000000000b1', '10000000-0000-4000-8000-00000000000b', 100, '{80,100}')
on conflict (id) do nothing;

insert into public.budget_alerts
  (id, budget_id, team_id, period, threshold, spent, monthly_limit, currency)
values
  ('d0000000-0000-4000-8000-0000000000a1', 'c0000000-0000-4000-8000-0000000000a1',
   '10000000-0000-4000-8000-00000000000a', date_trunc('month', now())::date, 80, 81, 100, 'USD')
on conflict (id) do nothing;
