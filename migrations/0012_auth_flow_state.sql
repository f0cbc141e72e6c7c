-- 0012_auth_flow_state: PKCE (RFC 7636) for mailed links, as GoTrue's auth.flow_state; and
-- magic-link tokens.
--
-- A client that sends `code_challenge` with /signup, /recover or PUT /user (supabase-py does
-- by default) gets a mail whose link does not carry a session: GET /verify redirects with
-- `?code=<auth code>`, and only the holder of the code verifier can exchange that code for a
-- session (POST /token?grant_type=pkce). A link opened on another device, or copied out of a
-- log, is worth nothing without the verifier.
--
-- One row per mailed PKCE link. The auth code is made when the link is followed, and only
-- its SHA-256 is kept (like every token of the auth schema). `expires_at` is first the
-- mail's lifetime (GPTDESK_MAIL_TOKEN_TTL) and, once the code is issued,
-- GPTDESK_FLOW_STATE_TTL from then; the exchange deletes the row (a code works once).
--
-- Like the rest of the auth schema, the table belongs to the auth service (`gptdesk_auth`,
-- see 0007); the API roles cannot reach it.
set local lock_timeout = '5s';

create table if not exists auth.flow_state (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references auth.users (id) on delete cascade,
    auth_code_hash text check (auth_code_hash ~ '^[0-9a-f]{64}$'),
    -- RFC 7636 §4.2: 43-128 unreserved characters.
    code_challenge text not null check (code_challenge ~ '^[A-Za-z0-9._~-]{43,128}$'),
    code_challenge_method text not null check (code_challenge_method in ('s256', 'plain')),
    authentication_method text not null
        check (authentication_method in
               ('signup', 'recovery', 'invite', 'email_change', 'magiclink')),
    created_at timestamp with time zone not null default now(),
    auth_code_issued_at timestamp with time zone,
    expires_at timestamp with time zone not null,
    check (expires_at > created_at),
    check ((auth_code_hash is null) = (auth_code_issued_at is null))
);

create unique index if not exists flow_state_auth_code_hash_key
    on auth.flow_state (auth_code_hash);
-- GET /verify looks up the user's newest flow of the link's kind.
create index if not exists flow_state_user_id_method_idx
    on auth.flow_state (user_id, authentication_method, created_at desc);
-- Rows long expired are swept when new ones are made.
create index if not exists flow_state_expires_at_idx on auth.flow_state (expires_at);

grant select, insert, update, delete on auth.flow_state to gptdesk_auth;
revoke all on auth.flow_state from public, anon, authenticated, service_role;

-- Magic links (the admin API's generate_link) get their own one-time token type, so that one
-- does not replace a recovery mail in flight (GoTrue shares the recovery slot).
alter table auth.one_time_tokens
    drop constraint if exists one_time_tokens_token_type_check;
alter table auth.one_time_tokens
    add constraint one_time_tokens_token_type_check
    check (token_type in ('confirmation', 'recovery', 'email_change', 'invite', 'magiclink'));
