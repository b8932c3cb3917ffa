-- +goose Up
-- heartbeat_at: a running sync run's last sign of life (it beats every 30 seconds). Another instance
-- marks a RUNNING run ABORTED only when it stopped beating, so a live run is never marked ABORTED.
ALTER TABLE sync_runs ADD COLUMN heartbeat_at datetime;

-- +goose Down
ALTER TABLE sync_runs DROP COLUMN heartbeat_at;
