-- 0008_auth_one_time_tokens: the tokens mailed to users — sign-up confirmation, password
-- recovery, e-mail change, GoTrue-style invitation — that /auth/v1/verify exchanges for a
-- session.
--
-- Only a token's SHA-256 is stored (the token itself is random, so no salt is needed): a
-- database dump does not let anyone verify. Each user has at most one live token of each
-- type — issuing a new one replaces the old, so only the newest mail works — and a token is
-- deleted when used. `relates_to` is the address the token was mailed to (for an e-mail
-- change, the new address); `expires_at` is set by the auth service from
-- GPTDESK_MAIL_TOKEN_TTL.
--
-- Like the rest of the auth schema, the table belongs to the auth service (`gptdesk_auth`,
-- see 0007); the API roles cannot reach it.
set local lock_timeout = '5s';

create table if not exists auth.one_time_tokens (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references auth.users (id) on delete cascade,
    token_type text not null
        check (token_type in ('confirmation', 'recovery', 'email_change', 'invite')),
    token_hash text not null check (token_hash ~ '^[0-9a-f]{64}$'),
    relates_to text not null check (btrim(relates_to) <> ''),
    created_at timestamp with time zone not null default now(),
    expires_at timestamp with time zone not null,
    check (expires_at > created_at)
);

create unique index if not exists one_time_tokens_token_hash_key
    on auth.one_time_tokens (token_hash);
-- One live token per user and type.
create unique index if not exists one_time_tokens_user_id_token_type_key
    on auth.one_time_tokens (user_id, token_type);

grant select, insert, update, delete on auth.one_time_tokens to gptdesk_auth;
revoke all on auth.one_time_tokens from public, anon, authenticated, service_role;
