-- +goose Up
-- sync_full_round and sync_full_stage checkpoint a full round while it is read: each Graph page is
-- staged with the link that continues after it, in one transaction, so a run that fails at page 900
-- of 1,000 continues at page 900. The replica changes only once every page is read; the apply's
-- last transaction clears both. round_key (configuration and source) and started_at decide whether
-- a later run may continue the round or must start over.
CREATE TABLE sync_full_round (
    directory_id bigint NOT NULL PRIMARY KEY REFERENCES directories (id) ON DELETE CASCADE,
    round_key    text NOT NULL,
    started_at   datetime NOT NULL
);

CREATE TABLE sync_full_stage (
    directory_id bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    seq          integer NOT NULL,
    items        integer NOT NULL,
    next_link    text NOT NULL DEFAULT '',
    delta_link   text NOT NULL DEFAULT '',
    payload      text NOT NULL,
    PRIMARY KEY (directory_id, kind, seq)
);

-- +goose Down
DROP TABLE sync_full_stage;
DROP TABLE sync_full_round;
