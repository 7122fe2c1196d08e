-- The job action that made a link (e.g. `admit:<grant>:<chat>`): a job that runs
-- again finds the link it made, whatever became of it since (used, revoked), and
-- neither makes nor sends a second one.
ALTER TABLE invite_links ADD COLUMN issue_key text;
CREATE UNIQUE INDEX invite_links_issue_key_idx ON invite_links (project_id, issue_key) WHERE issue_key IS NOT NULL;
