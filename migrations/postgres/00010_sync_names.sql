-- +goose Up
-- sync_name_clashes: replicated objects placed under another name than the one they want, because
-- another object already holds it (the incumbent keeps its name) or because it is a protected name
-- they are not bound to. given_name is the name they have in the replica ("name#1a2b3c4d").
CREATE TABLE sync_name_clashes (
    directory_id bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    external_id  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('USER', 'GROUP')),
    wanted_name  text NOT NULL,
    lower_wanted text COLLATE "C" NOT NULL,
    given_name   text NOT NULL,
    holder       text NOT NULL DEFAULT '',
    protected    boolean NOT NULL DEFAULT false,
    since        timestamptz NOT NULL,
    PRIMARY KEY (directory_id, external_id)
);

-- name_clashes: objects a run placed under a suffixed name for the first time.
ALTER TABLE sync_runs ADD COLUMN name_clashes integer NOT NULL DEFAULT 0;

-- TYPE: a group outside the synchronised group types (not security-enabled, or a Microsoft 365
-- group while those are not synchronised).
ALTER TABLE sync_outside DROP CONSTRAINT sync_outside_reason_check;
ALTER TABLE sync_outside ADD CONSTRAINT sync_outside_reason_check
    CHECK (reason IN ('GUEST', 'FILTER', 'REMOVED', 'CLASH', 'INVALID', 'TYPE'));

-- +goose Down
DELETE FROM sync_outside WHERE reason = 'TYPE';
ALTER TABLE sync_outside DROP CONSTRAINT sync_outside_reason_check;
ALTER TABLE sync_outside ADD CONSTRAINT sync_outside_reason_check
    CHECK (reason IN ('GUEST', 'FILTER', 'REMOVED', 'CLASH', 'INVALID'));
ALTER TABLE sync_runs DROP COLUMN name_clashes;
DROP TABLE sync_name_clashes;
