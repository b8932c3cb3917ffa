-- +goose Up
-- user_totp: the second factor (RFC 6238) of local administrators. secret is sealed by the caller
-- (secretbox) before it is stored; confirmed_at is NULL while enrolment awaits its first code;
-- last_step is the last time step accepted, so a code is used once, across instances.
CREATE TABLE user_totp (
    user_id      bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       text NOT NULL,
    confirmed_at timestamptz,
    last_step    bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL
);

-- user_recovery_codes: single-use recovery codes, stored as SHA-256 hashes (the codes are random).
CREATE TABLE user_recovery_codes (
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- +goose Down
DROP TABLE user_recovery_codes;
DROP TABLE user_totp;
