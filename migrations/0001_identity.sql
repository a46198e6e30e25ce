-- People who use boxoffice: guest buyers, registered buyers and operators.

CREATE TABLE users (
    user_id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT        NOT NULL,
    -- argon2id PHC string; NULL for guests, who never log in with a password.
    password_hash TEXT,
    role          TEXT        NOT NULL DEFAULT 'buyer',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_role_known CHECK (role IN ('buyer', 'admin')),
    CONSTRAINT users_email_not_blank CHECK (length(btrim(email)) > 0)
);

-- One account with a password per email address (case-insensitive). Guests are
-- not in this index: every guest checkout is its own identity, so knowing
-- somebody's email never gives access to their bookings.
CREATE UNIQUE INDEX users_account_email_key
    ON users (lower(email)) WHERE password_hash IS NOT NULL;
