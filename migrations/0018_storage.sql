-- 0018_storage: the files surface — Supabase Storage's schema (buckets, objects, the path
-- helpers policies use), its row-level security, the seed's bucket, and audit rows.
--
-- /storage/v1 runs every request as the caller's role with their claims, like /rest/v1,
-- and reads and writes these tables; RLS on them decides every operation (upload: INSERT;
-- overwrite: SELECT + UPDATE; download, list, info, signing: SELECT; remove: SELECT +
-- DELETE; move: SELECT + UPDATE). The one read past RLS is a download by signed URL, after
-- the server has checked the URL's token.
--
-- The seed's "Users can view team files" policy joined objects to documents with
-- `documents.file_path LIKE '%' || objects.name || '%'`: slow (a scan of documents per
-- object row) and leaky (an object named "a" matches every path containing an "a", and any
-- team's document row can make another team's object visible). Here a team's files live
-- in its folder, `<team_id>/…`, of the bucket gpt-desk-files, and the policies key on that
-- first path segment: members read their team's folder, upload into it as themselves, and
-- the uploader or the team's admins change or remove its files. Super admins see all.
set local lock_timeout = '5s';

create schema if not exists storage;
grant usage on schema storage to anon, authenticated, service_role;

create table if not exists storage.buckets (
    id text primary key check (id ~ '^[A-Za-z0-9_.-]{1,100}$' and id not in ('.', '..')),
    name text not null unique,
    owner uuid,
    owner_id text,
    public boolean not null default false,
    file_size_limit bigint check (file_size_limit > 0),
    allowed_mime_types text[],
    type text not null default 'STANDARD',
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now()
);

create table if not exists storage.objects (
    id uuid primary key default gen_random_uuid(),
    bucket_id text not null references storage.buckets (id),
    name text not null check (name <> ''),
    owner uuid,
    owner_id text,
    metadata jsonb,
    user_metadata jsonb,
    path_tokens text[] generated always as (string_to_array(name, '/')) stored,
    -- which stored file holds the body: a new one per write, so a failed write never
    -- touches the file a committed row points at
    version text,
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    last_accessed_at timestamp with time zone not null default now(),
    unique (bucket_id, name)
);

create index if not exists objects_bucket_name_pattern
  on storage.objects (bucket_id, name text_pattern_ops);

create or replace trigger set_updated_at before update on storage.buckets
  for each row execute function public.set_updated_at();

-- Path helpers as Supabase has them: 'a/b/c.pdf' → {a,b}, 'c.pdf', 'pdf'.
create or replace function storage.foldername(name text)
returns text[]
language sql
immutable
parallel safe
set search_path = ''
as $$
  select (pg_catalog.string_to_array(foldername.name, '/'))[
           1:pg_catalog.cardinality(pg_catalog.string_to_array(foldername.name, '/')) - 1]
$$;

create or replace function storage.filename(name text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select (pg_catalog.string_to_array(filename.name, '/'))[
           pg_catalog.cardinality(pg_catalog.string_to_array(filename.name, '/'))]
$$;

create or replace function storage.extension(name text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case when storage.filename(extension.name) like '%.%'
              then pg_catalog.reverse(pg_catalog.split_part(
                     pg_catalog.reverse(storage.filename(extension.name)), '.', 1))
              else '' end
$$;

grant execute on function storage.foldername(text), storage.filename(text),
  storage.extension(text) to anon, authenticated, service_role;

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
grant select, insert, update, delete on storage.buckets, storage.objects
  to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Buckets: everyone reads them (names and limits are no secret; a private bucket's files
-- stay private); super admins create, change and remove them; service_role bypasses RLS.
-- ---------------------------------------------------------------------------------------

drop policy if exists "Anyone can see buckets" on storage.buckets;
create policy "Anyone can see buckets" on storage.buckets
  for select to anon, authenticated
  using (true);

drop policy if exists "Super admins can create buckets" on storage.buckets;
create policy "Super admins can create buckets" on storage.buckets
  for insert to authenticated
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can change buckets" on storage.buckets;
create policy "Super admins can change buckets" on storage.buckets
  for update to authenticated
  using ((select public.is_super_admin(auth.uid())))
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can remove buckets" on storage.buckets;
create policy "Super admins can remove buckets" on storage.buckets
  for delete to authenticated
  using ((select public.is_super_admin(auth.uid())));

-- ---------------------------------------------------------------------------------------
-- Objects of gpt-desk-files, by team folder; objects of public buckets readable by all.
-- ---------------------------------------------------------------------------------------

drop policy if exists "Members can view their team's files" on storage.objects;
create policy "Members can view their team's files" on storage.objects
  for select to authenticated
  using (bucket_id = 'gpt-desk-files'
         and (storage.foldername(name))[1] = (select public.get_user_team_id(auth.uid())::text));

drop policy if exists "Members can upload into their team's folder" on storage.objects;
create policy "Members can upload into their team's folder" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'gpt-desk-files'
              and owner = (select auth.uid())
              and (storage.foldername(name))[1]
                  = (select public.get_user_team_id(auth.uid())::text));

drop policy if exists "Uploaders and team admins can change team files" on storage.objects;
create policy "Uploaders and team admins can change team files" on storage.objects
  for update to authenticated
  using (bucket_id = 'gpt-desk-files'
         and (storage.foldername(name))[1] = (select public.get_user_team_id(auth.uid())::text)
         and (owner = (select auth.uid()) or (select public.is_admin_or_super(auth.uid()))))
  with check (bucket_id = 'gpt-desk-files'
              and (storage.foldername(name))[1]
                  = (select public.get_user_team_id(auth.uid())::text));

drop policy if exists "Uploaders and team admins can remove team files" on storage.objects;
create policy "Uploaders and team admins can remove team files" on storage.objects
  for delete to authenticated
  using (bucket_id = 'gpt-desk-files'
         and (storage.foldername(name))[1] = (select public.get_user_team_id(auth.uid())::text)
         and (owner = (select auth.uid()) or (select public.is_admin_or_super(auth.uid()))));

drop policy if exists "Super admins can view all files" on storage.objects;
create policy "Super admins can view all files" on storage.objects
  for select to authenticated
  using ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can upload anywhere" on storage.objects;
create policy "Super admins can upload anywhere" on storage.objects
  for insert to authenticated
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can change all files" on storage.objects;
create policy "Super admins can change all files" on storage.objects
  for update to authenticated
  using ((select public.is_super_admin(auth.uid())))
  with check ((select public.is_super_admin(auth.uid())));

drop policy if exists "Super admins can remove all files" on storage.objects;
create policy "Super admins can remove all files" on storage.objects
  for delete to authenticated
  using ((select public.is_super_admin(auth.uid())));

drop policy if exists "Anyone can view files of public buckets" on storage.objects;
create policy "Anyone can view files of public buckets" on storage.objects
  for select to anon, authenticated
  using (exists (select from storage.buckets b where b.id = objects.bucket_id and b.public));

-- The seed's bucket: team documents, private, 50 MB a file.
insert into storage.buckets (id, name, public, file_size_limit)
values ('gpt-desk-files', 'gpt-desk-files', false, 52428800)
on conflict (id) do nothing;

-- ---------------------------------------------------------------------------------------
-- Audit: uploads, removals and bucket changes, in the same transaction, with the request's
-- address and user agent (public.log_action).
-- ---------------------------------------------------------------------------------------

create or replace function storage.audit_object_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    perform public.log_action('storage.object_uploaded', 'storage_object', new.id,
      pg_catalog.jsonb_build_object('bucket', new.bucket_id, 'name', new.name,
                                    'size', new.metadata -> 'size'));
  elsif tg_op = 'UPDATE' then
    perform public.log_action(
      case when new.name is distinct from old.name or new.bucket_id <> old.bucket_id
           then 'storage.object_moved' else 'storage.object_replaced' end,
      'storage_object', new.id,
      pg_catalog.jsonb_build_object('bucket', new.bucket_id, 'name', new.name,
                                    'from_bucket', old.bucket_id, 'from_name', old.name,
                                    'size', new.metadata -> 'size'));
  else
    perform public.log_action('storage.object_removed', 'storage_object', old.id,
      pg_catalog.jsonb_build_object('bucket', old.bucket_id, 'name', old.name));
  end if;
  return null;
end
$$;

create or replace trigger audit_object_change
  after insert or delete or update of name, bucket_id, version on storage.objects
  for each row execute function storage.audit_object_change();

create or replace function storage.audit_bucket_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.log_action(
    'storage.bucket_' || case tg_op when 'INSERT' then 'created'
                                    when 'UPDATE' then 'changed' else 'removed' end,
    'storage_bucket', null,
    pg_catalog.jsonb_build_object(
      'bucket', coalesce(new.id, old.id),
      'before', case when tg_op <> 'INSERT' then pg_catalog.to_jsonb(old) end,
      'after', case when tg_op <> 'DELETE' then pg_catalog.to_jsonb(new) end));
  return null;
end
$$;

create or replace trigger audit_bucket_change
  after insert or update or delete on storage.buckets
  for each row execute function storage.audit_bucket_change();

revoke execute on function storage.audit_object_change(), storage.audit_bucket_change()
  from public, anon, authenticated, service_role;
