-- +goose Up
-- On PostgreSQL this version drops the index on sessions.expires_at and lowers the fillfactor, so
-- the session write-back's UPDATE is HOT. SQLite has neither HOT updates nor a fillfactor: an
-- update rewrites the row in place in its B-tree either way, and the index keeps the minutely purge
-- of expired sessions to the rows it deletes. So the schema stays as it is here.
SELECT 1;

-- +goose Down
SELECT 1;
