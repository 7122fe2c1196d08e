-- apalis.jobs is a queue: each job's row is written two or three times within seconds of its
-- insert (claimed, started, done), so dead row versions pile up far faster than PostgreSQL's
-- defaults expect (a vacuum once 20 % of the table has changed: 200,000 rows at a million). Until
-- a vacuum, every claim walks past the dead index entries of the rows claimed before it: through
-- 1,000,000 no-op jobs the last 100,000 ran at 0.70-0.90 of the first with the defaults, at 1.01
-- with a vacuum after every 5,000 dead rows (ops/bench/README.md). So this table is vacuumed
-- after 5,000 dead or 5,000 inserted rows whatever its size, without cost-based pauses, and
-- analyzed after 2 % of it changed. Storage parameters only: no data or lock is touched beyond a
-- brief lock of the table's definition. How often autovacuum looks is the server's
-- `autovacuum_naptime` (ops/README.md).
ALTER TABLE apalis.jobs SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0.02
);
