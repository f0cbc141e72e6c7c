"""/realtime/v1: Supabase Realtime's Phoenix-channel protocol — postgres_changes checked
against each subscriber's RLS, broadcast and presence, across workers."""
