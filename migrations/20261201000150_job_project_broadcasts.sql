-- The project a queued job acts for (migration 0100's rule, whole): jobs of the kinds
-- that came after it are filed under their project too: a broadcast's batches and
-- progress edits (`broadcast_id`), a webhook delivery (`delivery_id`), a message
-- deleted from a project's bot (`telegram_bot_id`: the project whose claim getMe
-- verified; the platform bot's own chats stay of no project). `message_id` leads to a
-- recorded message only when it is one (a UUID), not Telegram's number of a message.
CREATE OR REPLACE FUNCTION gatehouse_job_project(job bytea) RETURNS uuid
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
    IF args ? 'broadcast_id' THEN
        SELECT project_id INTO found FROM broadcasts WHERE id = (args ->> 'broadcast_id')::uuid;
        RETURN found;
    END IF;
    IF args ? 'delivery_id' THEN
        SELECT e.project_id INTO found FROM webhook_deliveries d
        JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE d.id = (args ->> 'delivery_id')::uuid;
        RETURN found;
    END IF;
    IF jsonb_typeof(args -> 'message_id') = 'string' THEN
        SELECT project_id INTO found FROM outbound_messages WHERE id = (args ->> 'message_id')::uuid;
        RETURN found;
    END IF;
    IF jsonb_typeof(args -> 'bot_id') = 'string' THEN
        SELECT project_id INTO found FROM bots WHERE id = (args ->> 'bot_id')::uuid;
        RETURN found;
    END IF;
    IF jsonb_typeof(args -> 'bot_id') = 'number' OR jsonb_typeof(args -> 'telegram_bot_id') = 'number' THEN
        -- Telegram's bot id: the project whose claim getMe verified.
        SELECT project_id INTO found FROM bots
        WHERE telegram_bot_id = coalesce(args ->> 'bot_id', args ->> 'telegram_bot_id')::bigint
          AND verified_at IS NOT NULL;
        RETURN found;
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    -- Bytes that are not UTF-8 or not JSON, an id that is not a UUID: no project.
    RETURN NULL;
END;
$$;
