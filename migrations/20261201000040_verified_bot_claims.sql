-- A bot id belongs to a project only once getMe has confirmed the token. Forward-only.
--
-- Bot ids are public (the part of a token before ':'), so a claim made with a format
-- check alone let any project take someone else's bot id: the real owner was then
-- refused as "connected to another project". Now any number of projects may hold an
-- unverified claim; `verified_at` is set by connect-bot when getMe answered for this
-- bot id with the stored token, and only one project may hold a verified claim.
ALTER TABLE bots ADD COLUMN verified_at timestamptz;

-- Connected bots were verified by connect-bot when they connected.
UPDATE bots SET verified_at = updated_at WHERE status = 'connected';

ALTER TABLE bots DROP CONSTRAINT bots_telegram_bot_id_key;
CREATE UNIQUE INDEX bots_verified_telegram_bot_id_key ON bots (telegram_bot_id) WHERE verified_at IS NOT NULL;
CREATE INDEX bots_telegram_bot_id_idx ON bots (telegram_bot_id);

-- A bot's own rate limits belong to its verified connection: limits no verified
-- connection stands behind were set by a claim that never proved itself.
DELETE FROM bot_rate_limits l
WHERE NOT EXISTS (SELECT 1 FROM bots b WHERE b.telegram_bot_id = l.telegram_bot_id AND b.verified_at IS NOT NULL);
