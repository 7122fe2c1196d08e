-- A checkout started from the membership page (`/p/{handle}`) sends the payer back to
-- the page when Stripe's checkout is done or abandoned, and its job does not also
-- message the way to pay in Telegram: the page sends the visitor there itself.
-- NULL (every checkout before, and every checkout from the bot or the integrator API):
-- the payer returns to the bot and is sent the link in Telegram, as before.
ALTER TABLE checkout_requests ADD COLUMN return_url text;
