-- Payment attempts that can be fenced and refunds that survive a crash.
--
-- * REFUNDING: the attempt's charge bought nothing and is being given back.
--   It is recorded before the provider is asked to refund, so an attempt
--   interrupted between the refund and its recording is finished by refunding
--   again under the same refund key, never by confirming.
-- * lease_owner: who holds the lease (a random token per taker). Every write
--   an attempt's holder makes is conditional on it, so a holder whose lease
--   lapsed cannot overwrite the answer of the one who took over.
-- * charge_sent_at: when a charge request under the attempt's key last left
--   for the provider. "The provider has no record" is final only once
--   payments.charge_window_seconds have passed since.
-- * An attempt is unfinished exactly while it has no answer (response IS NULL),
--   whatever its status; the recovery worker scans those.

ALTER TABLE payments DROP CONSTRAINT payments_status_known;
ALTER TABLE payments ADD CONSTRAINT payments_status_known
    CHECK (status IN ('PROCESSING', 'SUCCEEDED', 'FAILED', 'REFUNDING', 'REFUNDED'));

ALTER TABLE payments ADD COLUMN lease_owner TEXT;
ALTER TABLE payments ADD COLUMN charge_sent_at TIMESTAMPTZ;
-- Attempts already open may have sent their charge at any time up to now.
UPDATE payments SET charge_sent_at = updated_at WHERE response IS NULL;
-- The ledger now marks an attempt SUCCEEDED when its charge confirms the
-- booking; do the same for open attempts that confirmed before this migration.
UPDATE payments p SET status = 'SUCCEEDED'
FROM bookings b
WHERE b.paid_by_payment_id = p.payment_id AND p.status = 'PROCESSING';

CREATE INDEX payments_unfinished_idx ON payments (updated_at) WHERE response IS NULL;

-- The simulated provider's refunds: one per refund idempotency key, as a real
-- provider keeps them (a second key would refund the charge a second time).
CREATE TABLE provider_refunds (
    refund_id       TEXT        PRIMARY KEY,
    idempotency_key TEXT        NOT NULL,
    charge_id       TEXT        NOT NULL REFERENCES provider_charges (charge_id),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT provider_refunds_idempotency_key UNIQUE (idempotency_key)
);
