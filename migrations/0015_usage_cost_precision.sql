-- 0015_usage_cost_precision: usage costs kept to a millionth of a cent.
--
-- usage_analytics.cost was decimal(10,4), as the seed has it: a call of a cheap model
-- (100 prompt and 50 completion tokens of gpt-4o-mini cost $0.000045) was recorded as 0,
-- and a month of such calls summed to cents less than the provider bills. usage_cost()
-- answers exactly; the column now keeps 8 decimals (and up to 99,999,999 a row).

set local lock_timeout = '5s';

alter table public.usage_analytics alter column cost type numeric(16, 8);
