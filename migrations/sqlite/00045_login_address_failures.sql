-- +goose Up
-- login_address_failures: failed sign-ins per sending address, shared by every instance, so an
-- address that guesses passwords is slowed down and then blocked everywhere (store/loginguard.go).
-- Accounts are never locked by failures alone: see docs/break-glass.md.
CREATE TABLE login_address_failures (
    address       text PRIMARY KEY,
    failures      integer NOT NULL,
    window_start  datetime NOT NULL,
    blocked_until datetime
);

-- +goose Down
DROP TABLE login_address_failures;
