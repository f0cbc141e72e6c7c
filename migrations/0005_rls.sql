-- 0005_rls: row-level security on every public table, the policies for each operation each
-- request role may do, and the table grants those policies gate.
--
-- The rules:
--   * anon sees and changes nothing: every policy is `to authenticated`. (anon may not
--     call the helpers get_user_role, get_user_team_id, is_admin_or_super, is_super_admin
--     — see 0004 — so a policy for anon or PUBLIC must not use them.)
--   * a user sees their own team's rows; team admins manage their team's users, GPTs,
--     documents and the team itself; super admins see everything except chats.
--   * public GPTs (is_public) are readable by every signed-in user.
--   * chat sessions and messages are private to their user (see chat_sessions below).
--   * usage_analytics and audit_logs are written only by trusted code.
--   * service_role has BYPASSRLS; the owner (who runs migrations) bypasses RLS as owner.
--
-- How the policies are written, for speed (measured in MACHINE-NOTES):
--   * every claim read and helper call is wrapped in a sub-select — (select auth.uid()),
--     (select public.get_user_team_id(auth.uid())) — so the planner runs it once per query as
--     an InitPlan instead of once per row;
--   * different reasons to see a row are separate permissive policies (PostgreSQL ORs them);
--     each is a cheap test on a column of the row, so a query's own index conditions
--     (e.g. team_id = $1 order by created_at desc limit 20) still drive an index scan.
--
-- Policies are dropped and re-created so the file can run again.
set local lock_timeout = '5s';

-- ---------------------------------------------------------------------------------------
-- Grants: what RLS then filters. See 0001_roles.sql for why anon and authenticated get no
-- TRUNCATE, TRIGGER, REFERENCES or MAINTAIN.
-- ---------------------------------------------------------------------------------------

grant select, insert, update, delete on
  public.teams, public.users, public.gpts, public.chat_sessions, public.chat_messages,
  public.usage_analytics, public.audit_logs, public.documents, public.gpt_ratings
  to anon, authenticated;
grant all on
  public.teams, public.users, public.gpts, public.chat_sessions, public.chat_messages,
  public.usage_analytics, public.audit_logs, public.documents, public.gpt_ratings
  to service_role;

-- Usage is metered by the server; a request role could only forge it.
revoke insert, update, delete, truncate on public.usage_analytics from anon, authenticated;

-- The audit trail is append-only for every request role: rows come from public.log_action()
-- (and the server as service_role); nobody edits or removes them through the API, not even
-- service_role.
revoke insert, update, delete, truncate on public.audit_logs from anon, authenticated;
revoke update, delete, truncate on public.audit_logs from service_role;

alter table public.teams enable row level security;
alter table public.users enable row level security;
alter table public.gpts enable row level security;
alter table public.chat_sessions enable row level security;
alter table public.chat_messages enable row level security;
alter table public.usage_analytics enable row level security;
alter table public.audit_logs enable row level security;
alter table public.documents enable row level security;
alter table public.gpt_ratings enable row level security;

-- ---------------------------------------------------------------------------------------
-- teams: members read their team; team admins update it; super admins create, update,
-- delete any.
-- ---------------------------------------------------------------------------------------

drop policy if exists "Members can view their team" on public.teams;
create policy "Members can view their team" on public.teams
  for select to authenticated
  using (id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Super admins can view all teams" on public.teams;
create policy "Super admins can view all teams" on public.teams
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can create teams" on public.teams;
create policy "Super admins can create teams" on public.teams
  for insert to authenticated
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Admins can update their team" on public.teams;
create policy "Admins can update their team" on public.teams
  for update to authenticated
  using (id = (select public.get_user_team_id(auth.uid()))
         and (select public.is_admin_or_super(auth.uid())))
  with check (id = (select public.get_user_team_id(auth.uid()))
              and (select public.is_admin_or_super(auth.uid())));

drop policy if exists "Super admins can update teams" on public.teams;
create policy "Super admins can update teams" on public.teams
  for update to authenticated
  using ((select public.is_super_admin(auth.uid())))
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can delete teams" on public.teams;
create policy "Super admins can delete teams" on public.teams
  for delete to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- ---------------------------------------------------------------------------------------
-- users (profiles): created by the auth.users trigger and removed with the auth account, so
-- no request role inserts or deletes them. Who may change which columns is further narrowed
-- by the guard_user_changes trigger (0004).
-- ---------------------------------------------------------------------------------------

drop policy if exists "Users can view their own profile" on public.users;
create policy "Users can view their own profile" on public.users
  for select to authenticated
  using (id = (select auth.uid()));

drop policy if exists "Users can view their team's members" on public.users;
create policy "Users can view their team's members" on public.users
  for select to authenticated
  using (team_id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Super admins can view all users" on public.users;
create policy "Super admins can view all users" on public.users
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

drop policy if exists "Users can update their own profile" on public.users;
create policy "Users can update their own profile" on public.users
  for update to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));

-- The seed's policy. Taking a member out of the team goes through
-- public.remove_team_member() (0004): the teamless row would fail the admin's SELECT
-- policies, which PostgreSQL also applies to an UPDATE's new row.
drop policy if exists "Admins can update team users" on public.users;
create policy "Admins can update team users" on public.users
  for update to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())))
  with check ((select public.is_admin_or_super(auth.uid()))
              and team_id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Super admins can update all users" on public.users;
create policy "Super admins can update all users" on public.users
  for update to authenticated
  using ((select public.is_super_admin(auth.uid())))
  with check ((select public.is_super_admin(auth.uid())));

-- ---------------------------------------------------------------------------------------
-- gpts. The seed's single policy
--   team_id = get_user_team_id(auth.uid()) OR is_public = true OR is_super_admin(auth.uid())
-- is split into three permissive policies with InitPlan calls: same rows, but each test is
-- a constant comparison on the row, so "the newest 20 GPTs of my team" stays an index scan
-- on (team_id, created_at desc) reading 20 rows instead of reading and sorting the team.
-- Changes are for the GPT's creator (in their team), the team's admins and super admins;
-- governance columns are further guarded by guard_gpt_governance (0004).
-- ---------------------------------------------------------------------------------------

drop policy if exists "Users can view team and public GPTs" on public.gpts;
drop policy if exists "Users can view their team's GPTs" on public.gpts;
create policy "Users can view their team's GPTs" on public.gpts
  for select to authenticated
  using (team_id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Users can view public GPTs" on public.gpts;
create policy "Users can view public GPTs" on public.gpts
  for select to authenticated
  using (is_public);

drop policy if exists "Super admins can view all GPTs" on public.gpts;
create policy "Super admins can view all GPTs" on public.gpts
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- Anyone in a team may create a GPT there, as its creator.
drop policy if exists "Users can create GPTs in their team" on public.gpts;
create policy "Users can create GPTs in their team" on public.gpts
  for insert to authenticated
  with check (team_id = (select public.get_user_team_id(auth.uid()))
              and creator_id = (select auth.uid()));

drop policy if exists "Super admins can create GPTs" on public.gpts;
create policy "Super admins can create GPTs" on public.gpts
  for insert to authenticated
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Creators can update their GPTs" on public.gpts;
create policy "Creators can update their GPTs" on public.gpts
  for update to authenticated
  using (creator_id = (select auth.uid())
         and team_id = (select public.get_user_team_id(auth.uid())))
  with check (creator_id = (select auth.uid())
              and team_id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Admins can update team GPTs" on public.gpts;
create policy "Admins can update team GPTs" on public.gpts
  for update to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())))
  with check ((select public.is_admin_or_super(auth.uid()))
              and team_id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Super admins can update GPTs" on public.gpts;
create policy "Super admins can update GPTs" on public.gpts
  for update to authenticated
  using ((select public.is_super_admin(auth.uid())))
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Creators can delete their GPTs" on public.gpts;
create policy "Creators can delete their GPTs" on public.gpts
  for delete to authenticated
  using (creator_id = (select auth.uid())
         and team_id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Admins can delete team GPTs" on public.gpts;
create policy "Admins can delete team GPTs" on public.gpts
  for delete to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Super admins can delete GPTs" on public.gpts;
create policy "Super admins can delete GPTs" on public.gpts
  for delete to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- ---------------------------------------------------------------------------------------
-- chat_sessions and chat_messages: private to their user, with no admin or super admin read.
-- A conversation can hold anything a person typed (personal, HR, health matters) and the
-- governance work needs none of it: usage_analytics carries who used which GPT, how much
-- and at what cost, which is what admins review. So only the user reads, changes or deletes
-- their chats. GPT replies are written by the server's SECURITY DEFINER code (or
-- service_role), never by the user: a user inserts only sender = 'user' messages.
-- ---------------------------------------------------------------------------------------

drop policy if exists "Users can view their chat sessions" on public.chat_sessions;
create policy "Users can view their chat sessions" on public.chat_sessions
  for select to authenticated
  using (user_id = (select auth.uid()));

-- The GPT must be one the user can see (the sub-select runs under gpts' own policies).
drop policy if exists "Users can create their chat sessions" on public.chat_sessions;
create policy "Users can create their chat sessions" on public.chat_sessions
  for insert to authenticated
  with check (user_id = (select auth.uid())
              and (gpt_id is null
                   or exists (select from public.gpts g where g.id = chat_sessions.gpt_id)));

drop policy if exists "Users can update their chat sessions" on public.chat_sessions;
create policy "Users can update their chat sessions" on public.chat_sessions
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid())
              and (gpt_id is null
                   or exists (select from public.gpts g where g.id = chat_sessions.gpt_id)));

drop policy if exists "Users can delete their chat sessions" on public.chat_sessions;
create policy "Users can delete their chat sessions" on public.chat_sessions
  for delete to authenticated
  using (user_id = (select auth.uid()));

-- "In one of my sessions": the sessions sub-select is planned once (hashed) per query.
drop policy if exists "Users can view messages of their sessions" on public.chat_messages;
create policy "Users can view messages of their sessions" on public.chat_messages
  for select to authenticated
  using (session_id in (select s.id from public.chat_sessions s
                        where s.user_id = (select auth.uid())));

drop policy if exists "Users can send messages in their sessions" on public.chat_messages;
create policy "Users can send messages in their sessions" on public.chat_messages
  for insert to authenticated
  with check (sender = 'user'
              and session_id in (select s.id from public.chat_sessions s
                                 where s.user_id = (select auth.uid())));

-- A user may edit what they wrote, not the GPT's replies.
drop policy if exists "Users can edit their messages" on public.chat_messages;
create policy "Users can edit their messages" on public.chat_messages
  for update to authenticated
  using (sender = 'user'
         and session_id in (select s.id from public.chat_sessions s
                            where s.user_id = (select auth.uid())))
  with check (sender = 'user'
              and session_id in (select s.id from public.chat_sessions s
                                 where s.user_id = (select auth.uid())));

drop policy if exists "Users can delete messages of their sessions" on public.chat_messages;
create policy "Users can delete messages of their sessions" on public.chat_messages
  for delete to authenticated
  using (session_id in (select s.id from public.chat_sessions s
                        where s.user_id = (select auth.uid())));

-- ---------------------------------------------------------------------------------------
-- usage_analytics: read by the row's user, the admins of its team and super admins. No
-- write policies (and no write grants, above): the server records usage.
-- ---------------------------------------------------------------------------------------

drop policy if exists "Users can view their usage" on public.usage_analytics;
create policy "Users can view their usage" on public.usage_analytics
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists "Admins can view their team's usage" on public.usage_analytics;
create policy "Admins can view their team's usage" on public.usage_analytics
  for select to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Super admins can view all usage" on public.usage_analytics;
create policy "Super admins can view all usage" on public.usage_analytics
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- ---------------------------------------------------------------------------------------
-- audit_logs: read by the admins of the row's team and super admins; plain users do not
-- read the trail, not even their own rows. No write policies: see the revokes above.
-- ---------------------------------------------------------------------------------------

drop policy if exists "Admins can view their team's audit logs" on public.audit_logs;
create policy "Admins can view their team's audit logs" on public.audit_logs
  for select to authenticated
  using ((select public.is_admin_or_super(auth.uid()))
         and team_id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Super admins can view all audit logs" on public.audit_logs;
create policy "Super admins can view all audit logs" on public.audit_logs
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- ---------------------------------------------------------------------------------------
-- documents: the team reads its files and adds its own uploads; the uploader and the team's
-- admins change or remove them. A document may be attached only to a GPT of the same team
-- (super admins included), so one team's files never feed another team's GPT, and its
-- object_path must lie in its team's folder, `<team_id>/…` (a CHECK constraint, 0003, for
-- every writer), so a row of one team never points at another team's object.
-- ---------------------------------------------------------------------------------------

drop policy if exists "Users can view team documents" on public.documents;
create policy "Users can view team documents" on public.documents
  for select to authenticated
  using (team_id = (select public.get_user_team_id(auth.uid())));

drop policy if exists "Super admins can view all documents" on public.documents;
create policy "Super admins can view all documents" on public.documents
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

drop policy if exists "Users can upload team documents" on public.documents;
create policy "Users can upload team documents" on public.documents
  for insert to authenticated
  with check (team_id = (select public.get_user_team_id(auth.uid()))
              and user_id = (select auth.uid())
              and (gpt_id is null
                   or exists (select from public.gpts g
                              where g.id = documents.gpt_id and g.team_id = documents.team_id)));

drop policy if exists "Super admins can add documents" on public.documents;
create policy "Super admins can add documents" on public.documents
  for insert to authenticated
  with check ((select public.is_super_admin(auth.uid()))
              and (gpt_id is null
                   or exists (select from public.gpts g
                              where g.id = documents.gpt_id and g.team_id = documents.team_id)));

drop policy if exists "Uploaders and admins can update documents" on public.documents;
create policy "Uploaders and admins can update documents" on public.documents
  for update to authenticated
  using (team_id = (select public.get_user_team_id(auth.uid()))
         and (user_id = (select auth.uid()) or (select public.is_admin_or_super(auth.uid()))))
  with check (team_id = (select public.get_user_team_id(auth.uid()))
              and (user_id = (select auth.uid()) or (select public.is_admin_or_super(auth.uid())))
              and (gpt_id is null
                   or exists (select from public.gpts g
                              where g.id = documents.gpt_id and g.team_id = documents.team_id)));

drop policy if exists "Super admins can update documents" on public.documents;
create policy "Super admins can update documents" on public.documents
  for update to authenticated
  using ((select public.is_super_admin(auth.uid())))
  with check ((select public.is_super_admin(auth.uid()))
              and (gpt_id is null
                   or exists (select from public.gpts g
                              where g.id = documents.gpt_id and g.team_id = documents.team_id)));

drop policy if exists "Uploaders and admins can delete documents" on public.documents;
create policy "Uploaders and admins can delete documents" on public.documents
  for delete to authenticated
  using (team_id = (select public.get_user_team_id(auth.uid()))
         and (user_id = (select auth.uid()) or (select public.is_admin_or_super(auth.uid()))));

drop policy if exists "Super admins can delete documents" on public.documents;
create policy "Super admins can delete documents" on public.documents
  for delete to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- ---------------------------------------------------------------------------------------
-- gpt_ratings: a user reads and writes only their own rating, of a GPT they can see (the
-- sub-select runs under gpts' policies); super admins may read all. gpts.rating carries the
-- average for everyone else.
-- ---------------------------------------------------------------------------------------

drop policy if exists "Users can view their ratings" on public.gpt_ratings;
create policy "Users can view their ratings" on public.gpt_ratings
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists "Super admins can view all ratings" on public.gpt_ratings;
create policy "Super admins can view all ratings" on public.gpt_ratings
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

drop policy if exists "Users can rate GPTs they can see" on public.gpt_ratings;
create policy "Users can rate GPTs they can see" on public.gpt_ratings
  for insert to authenticated
  with check (user_id = (select auth.uid())
              and exists (select from public.gpts g where g.id = gpt_ratings.gpt_id));

drop policy if exists "Users can change their ratings" on public.gpt_ratings;
create policy "Users can change their ratings" on public.gpt_ratings
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid())
              and exists (select from public.gpts g where g.id = gpt_ratings.gpt_id));

drop policy if exists "Users can delete their ratings" on public.gpt_ratings;
create policy "Users can delete their ratings" on public.gpt_ratings
  for delete to authenticated
  using (user_id = (select auth.uid()));
