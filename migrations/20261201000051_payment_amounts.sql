-- What a stored payment event moved, in one place: the lists, exports and analytics
-- of the integrator API read amounts through these functions instead of digging in
-- each provider's payload. A payload is whatever the provider sent: a value that is
-- not a plain integer gives NULL, never an error.

CREATE FUNCTION gatehouse_int_or_null(value text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN value ~ '^-?[0-9]{1,18}$' THEN value::bigint END
$$;

-- The money a payment event brought in, in minor units: positive for a payment,
-- negative for a refund, NULL for an event that moved no money (a failure, a
-- subscription change) or whose amount is not in the event (a Stars refund names
-- its charge: see `gatehouse_payment_amount` callers).
CREATE FUNCTION gatehouse_payment_amount(provider text, kind text, payload jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN provider = 'stars' AND kind = 'successful_payment'
            THEN gatehouse_int_or_null(payload->>'total_amount')
        WHEN provider = 'stripe' AND kind = 'invoice.paid'
            THEN gatehouse_int_or_null(payload#>>'{data,object,amount_paid}')
        WHEN provider = 'stripe' AND kind = 'checkout.session.completed'
             AND payload#>>'{data,object,mode}' = 'payment'
            THEN gatehouse_int_or_null(payload#>>'{data,object,amount_total}')
        WHEN provider = 'stripe' AND kind = 'charge.refunded'
            THEN -gatehouse_int_or_null(payload#>>'{data,object,amount_refunded}')
    END
$$;

-- The currency of a payment event: XTR for Stars, the event's (upper-cased) for Stripe.
CREATE FUNCTION gatehouse_payment_currency(provider text, payload jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN provider = 'stars' THEN 'XTR'
                ELSE upper(left(payload#>>'{data,object,currency}', 3)) END
$$;

-- The integrator API's lists page by these keys.
CREATE INDEX subscribers_project_created_idx ON subscribers (project_id, created_at, id);
CREATE INDEX grants_project_created_idx ON grants (project_id, created_at, id);
CREATE INDEX payment_events_project_received_idx ON payment_events (project_id, received_at, id);
CREATE INDEX access_codes_project_created_idx ON access_codes (project_id, created_at, id);
CREATE INDEX audit_log_project_id_idx ON audit_log (project_id, id);
