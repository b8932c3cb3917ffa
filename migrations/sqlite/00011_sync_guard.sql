-- +goose Up
-- The mass-change guard: a run that would remove more users or groups than the directory's threshold
-- ends HELD and writes nothing. An administrator's release records the counts approved (from the
-- held run, release_run) for the next full round, which clears them in the transaction that removes.
ALTER TABLE sync_state ADD COLUMN release_run bigint NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN release_users integer NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN release_groups integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sync_state DROP COLUMN release_groups;
ALTER TABLE sync_state DROP COLUMN release_users;
ALTER TABLE sync_state DROP COLUMN release_run;
