-- +goose Up
-- sync_pending: member additions Graph reported before the member itself (users and groups delta
-- are not consistent with each other). Kept until the member arrives (then applied) or the
-- membership or group goes; reported when older than a day, never dropped silently.
CREATE TABLE sync_pending (
    directory_id bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    group_ext    text NOT NULL,
    member_ext   text NOT NULL,
    is_group     boolean NOT NULL DEFAULT false,
    since        timestamptz NOT NULL,
    PRIMARY KEY (directory_id, group_ext, member_ext)
);

-- +goose Down
DROP TABLE sync_pending;
