-- +goose Up
-- sync_outside: Entra ID objects the synchroniser knows but keeps out of the replica's live set, so a
-- delta round can tell "deliberately absent" from "never seen":
--   GUEST   a guest user, while guests are excluded;
--   FILTER  a user or group outside the group filter (users keep their mapped data in data, JSON, so a
--           user added to a chosen group enters the replica without a full round);
--   REMOVED a user removed in Entra ID and kept deactivated in the replica (a tombstone: it yields its
--           name to a live user who wants it);
--   CLASH   a user or group whose name (lower_name) another object with a smaller id holds;
--   INVALID a user or group whose mapped name or fields break the directory's rules.
-- A replica row listed here is not live: it yields its name to any live object that wants it.
CREATE TABLE sync_outside (
    directory_id bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    external_id  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('USER', 'GROUP')),
    reason       text NOT NULL CHECK (reason IN ('GUEST', 'FILTER', 'REMOVED', 'CLASH', 'INVALID')),
    lower_name   text COLLATE "C" NOT NULL DEFAULT '',
    data         text NOT NULL DEFAULT '',
    PRIMARY KEY (directory_id, external_id)
);
CREATE INDEX sync_outside_reason ON sync_outside (directory_id, reason, lower_name);

-- config_hash: fingerprint of the mapping and filter configuration the replica was built with; a
-- different configuration forces a full round.
ALTER TABLE sync_state ADD COLUMN config_hash text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sync_state DROP COLUMN config_hash;
DROP TABLE sync_outside;
