-- 0006_indexes: the seed's indexes (built without CONCURRENTLY: a migration runs inside a
-- transaction), the full-text index on chat messages, and the indexes the policies, the hot
-- queries and the foreign keys' cascades need.
set local lock_timeout = '5s';

-- The seed's.
create index if not exists idx_gpts_team_status on public.gpts (team_id, status);
create index if not exists idx_chat_sessions_user_updated
  on public.chat_sessions (user_id, updated_at desc);
create index if not exists idx_usage_analytics_date_team on public.usage_analytics (date, team_id);
create index if not exists idx_active_gpts on public.gpts (team_id) where status = 'active';

-- Full-text search over messages (ChatAPI.searchMessages): queries must use the same
-- expression, to_tsvector('english', content).
create index if not exists idx_chat_messages_content_fts
  on public.chat_messages using gin (to_tsvector('english', content));

-- gpts: "the newest GPTs of my team" (and the team policy's team_id test) read the first
-- rows of this index; public GPTs and name search have their own.
create index if not exists idx_gpts_team_created on public.gpts (team_id, created_at desc);
create index if not exists idx_gpts_public_created
  on public.gpts (created_at desc) where is_public;
create index if not exists idx_gpts_creator on public.gpts (creator_id);
create index if not exists idx_gpts_name_trgm on public.gpts using gin (name gin_trgm_ops);
create index if not exists idx_gpts_approval_pending
  on public.gpts (team_id, created_at) where approval_status = 'pending';

-- users: team membership (policies, member lists).
create index if not exists idx_users_team on public.users (team_id);

-- chats: a session's messages in order; sessions of a GPT (cascade on GPT delete).
create index if not exists idx_chat_messages_session_created
  on public.chat_messages (session_id, created_at);
create index if not exists idx_chat_sessions_gpt on public.chat_sessions (gpt_id);

-- usage_analytics: per user, per team and per GPT over time; per session (cascade).
create index if not exists idx_usage_analytics_user_created
  on public.usage_analytics (user_id, created_at desc);
create index if not exists idx_usage_analytics_team_created
  on public.usage_analytics (team_id, created_at desc);
create index if not exists idx_usage_analytics_gpt_created
  on public.usage_analytics (gpt_id, created_at desc);
create index if not exists idx_usage_analytics_session on public.usage_analytics (session_id);

-- audit_logs: a team's trail, newest first; the whole trail for super admins; per actor.
create index if not exists idx_audit_logs_team_created
  on public.audit_logs (team_id, created_at desc);
create index if not exists idx_audit_logs_created on public.audit_logs (created_at desc);
create index if not exists idx_audit_logs_user_created
  on public.audit_logs (user_id, created_at desc);
create index if not exists idx_audit_logs_resource
  on public.audit_logs (resource_type, resource_id);

-- documents: a team's files, newest first; per uploader and per GPT (set null on delete).
create index if not exists idx_documents_team_created
  on public.documents (team_id, created_at desc);
create index if not exists idx_documents_user on public.documents (user_id);
create index if not exists idx_documents_gpt on public.documents (gpt_id);

-- gpt_ratings: a user's ratings (the primary key leads with gpt_id).
create index if not exists idx_gpt_ratings_user on public.gpt_ratings (user_id);
