-- +goose Up
-- sync_name_clashes: replicated objects placed under another name than the one they want, because
-- another object already holds it (the incumbent keeps its name) or because it is a protected name
-- they are not bound to. given_name is the name they have in the replica ("name#1a2b3c4d").
CREATE TABLE sync_name_clashes (
    directory_id bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    external_id  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('USER', 'GROUP')),
    wanted_name  text NOT NULL,
    lower_wanted text NOT NULL,
    given_name   text NOT NULL,
    holder       text NOT NULL DEFAULT '',
    protected    boolean NOT NULL DEFAULT false,
    since        datetime NOT NULL,
    PRIMARY KEY (directory_id, external_id)
);

-- name_clashes: objects a run placed under a suffixed name for the first time.
ALTER TABLE sync_runs ADD COLUMN name_clashes integer NOT NULL DEFAULT 0;

-- TYPE: a group outside the synchronised group types (not security-enabled, or a Microsoft 365
-- group while those are not synchronised). SQLite cannot change a CHECK: the table is rebuilt.
CREATE TABLE sync_outside_new (
    directory_id bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    external_id  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('USER', 'GROUP')),
    reason       text NOT NULL CHECK (reason IN ('GUEST', 'FILTER', 'REMOVED', 'CLASH', 'INVALID', 'TYPE')),
    lower_name   text NOT NULL DEFAULT '',
    data         text NOT NULL DEFAULT '',
    PRIMARY KEY (directory_id, external_id)
);
INSERT INTO sync_outside_new SELECT directory_id, external_id, kind, reason, lower_name, data FROM sync_outside;
DROP TABLE sync_outside;
ALTER TABLE sync_outside_new RENAME TO sync_outside;
CREATE INDEX sync_outside_reason ON sync_outside (directory_id, reason, lower_name);

-- +goose Down
CREATE TABLE sync_outside_old (
    directory_id bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    external_id  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('USER', 'GROUP')),
    reason       text NOT NULL CHECK (reason IN ('GUEST', 'FILTER', 'REMOVED', 'CLASH', 'INVALID')),
    lower_name   text NOT NULL DEFAULT '',
    data         text NOT NULL DEFAULT '',
    PRIMARY KEY (directory_id, external_id)
);
INSERT INTO sync_outside_old SELECT directory_id, external_id, kind, reason, lower_name, data FROM sync_outside WHERE reason <> 'TYPE';
DROP TABLE sync_outside;
ALTER TABLE sync_outside_old RENAME TO sync_outside;
CREATE INDEX sync_outside_reason ON sync_outside (directory_id, reason, lower_name);
ALTER TABLE sync_runs DROP COLUMN name_clashes;
DROP TABLE sync_name_clashes;
