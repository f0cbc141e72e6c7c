"""/storage/v1, Supabase Storage's API: buckets and objects under RLS, bodies in a backend."""
