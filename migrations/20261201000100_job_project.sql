-- The project a queued job acts for, read from its envelope's args (`{"kind","args"}`):
-- `project_id` itself, or the grant, chat, link, payment event, checkout request,
-- message or bot the args name. NULL for jobs of no project (ticks, sweeps,
-- maintenance) and for rows that are not JSON or name nothing that exists.
-- `/v1/projects/{id}/jobs` (and the MCP job tools) show a project only the jobs
-- this function gives it.
CREATE FUNCTION gatehouse_job_project(job bytea) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
    args jsonb;
    found uuid;
BEGIN
    args := convert_from(job, 'UTF8')::jsonb -> 'args';
    IF args IS NULL OR jsonb_typeof(args) <> 'object' THEN
        RETURN NULL;
    END IF;
    IF args ? 'project_id' THEN
        RETURN (args ->> 'project_id')::uuid;
    END IF;
    IF args ? 'grant_id' THEN
        SELECT project_id INTO found FROM grants WHERE id = (args ->> 'grant_id')::uuid;
        RETURN found;
    END IF;
    IF args ? 'link_id' THEN
        SELECT project_id INTO found FROM invite_links WHERE id = (args ->> 'link_id')::uuid;
        RETURN found;
    END IF;
    IF args ? 'chat_id' AND jsonb_typeof(args -> 'chat_id') = 'string' THEN
        SELECT project_id INTO found FROM chats WHERE id = (args ->> 'chat_id')::uuid;
        RETURN found;
    END IF;
    IF args ? 'event_id' THEN
        SELECT project_id INTO found FROM payment_events WHERE id = (args ->> 'event_id')::uuid;
        RETURN found;
    END IF;
    IF args ? 'request_id' THEN
        SELECT project_id INTO found FROM checkout_requests WHERE id = (args ->> 'request_id')::uuid;
        RETURN found;
    END IF;
    IF args ? 'message_id' THEN
        SELECT project_id INTO found FROM outbound_messages WHERE id = (args ->> 'message_id')::uuid;
        RETURN found;
    END IF;
    IF jsonb_typeof(args -> 'bot_id') = 'string' THEN
        SELECT project_id INTO found FROM bots WHERE id = (args ->> 'bot_id')::uuid;
        RETURN found;
    END IF;
    IF jsonb_typeof(args -> 'bot_id') = 'number' THEN
        -- Telegram's bot id: the project whose claim getMe verified.
        SELECT project_id INTO found FROM bots
        WHERE telegram_bot_id = (args ->> 'bot_id')::bigint AND verified_at IS NOT NULL;
        RETURN found;
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    -- Bytes that are not UTF-8 or not JSON, an id that is not a UUID: no project.
    RETURN NULL;
END;
$$;
