-- +goose Up
-- The session write-back (store/session.go, writeAccess) rewrites last_access_at and expires_at of
-- sessions in use every few minutes. With expires_at indexed, each such UPDATE wrote a new row
-- version into every index of the table (never a HOT update) and spread the table over new pages:
-- the database work that lengthened the validations' tail. Without an index on either column, and
-- with free room left on each page, the update is HOT: the new version stays on its page and no
-- index is touched. The only query the index served was the minutely purge of expired sessions
-- (store/session.go, ExpireSessions), now one sequential scan a minute; the count of live sessions
-- and the full load of the session cache match nearly every row and scanned the table anyway.
-- The fillfactor applies to pages written from now on (a large existing table gains it as
-- expired sessions are purged and new ones take their space, or at once with VACUUM FULL).
DROP INDEX IF EXISTS sessions_expires;
ALTER TABLE sessions SET (fillfactor = 70);

-- +goose Down
ALTER TABLE sessions RESET (fillfactor);
CREATE INDEX sessions_expires ON sessions (expires_at);
