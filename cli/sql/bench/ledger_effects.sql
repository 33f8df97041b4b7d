-- The ledger's rows, and how many distinct jobs (payload `i`) they came from: both must equal the
-- jobs that succeeded, or an effect was lost or doubled.
select count(*) as effects, count(distinct payload ->> 'i') as jobs from bench_ledger
