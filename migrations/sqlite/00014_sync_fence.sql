-- +goose Up
-- lock_epoch: a fencing token. Each run that takes a directory's sync lock increments it; every write
-- of the run checks, in its transaction, that it is still the latest. An instance whose lock
-- connection dropped (so another instance took the lock) therefore writes nothing more.
ALTER TABLE sync_state ADD COLUMN lock_epoch bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sync_state DROP COLUMN lock_epoch;
