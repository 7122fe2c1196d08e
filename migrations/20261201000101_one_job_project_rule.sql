-- One rule for the project a job acts for. Migrations 0070 and 0100 each wrote it: 0070
-- over ids the worker picked out of the args (and it accepted a bot claim that getMe never
-- verified), 0100 over the stored row. From here the rule is 0100's alone: the args form,
-- which the worker calls as a run fails (`job_errors`), wraps the args as a row would
-- carry them and asks it. So a failed run is filed under the project whose job list
-- shows the job, and a Telegram bot id leads only to the project whose claim getMe
-- verified: a squatter's claim never sees the real owner's failed runs.
DROP FUNCTION gatehouse_job_project(jsonb);

CREATE FUNCTION gatehouse_job_project(args jsonb) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT gatehouse_job_project(convert_to(jsonb_build_object('args', args)::text, 'UTF8'))
$$;
