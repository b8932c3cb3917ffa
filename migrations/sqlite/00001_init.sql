-- +goose Up
-- settings: instance-wide key/value configuration (cookie config, database identity, ...).
CREATE TABLE settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);

-- directories: sources of users and groups (INTERNAL, AZURE_AD), ordered by applications' mappings.
CREATE TABLE directories (
    id                integer PRIMARY KEY AUTOINCREMENT,
    name              text NOT NULL,
    lower_name        text NOT NULL UNIQUE,
    kind              text NOT NULL CHECK (kind IN ('INTERNAL', 'AZURE_AD')),
    description       text NOT NULL DEFAULT '',
    active            boolean NOT NULL DEFAULT true,
    nested_groups     boolean NOT NULL DEFAULT true,
    config            text NOT NULL DEFAULT '{}',
    lockout_threshold integer NOT NULL DEFAULT 0,
    lockout_seconds   integer NOT NULL DEFAULT 0,
    min_password_len  integer NOT NULL DEFAULT 0,
    created_at        datetime NOT NULL,
    updated_at        datetime NOT NULL
);

-- users: one row per account; key never changes (survives renames), external_id is the Entra object id
-- or a generated UUID for internal users.
CREATE TABLE users (
    id                 integer PRIMARY KEY AUTOINCREMENT,
    directory_id       bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    external_id        text NOT NULL,
    name               text NOT NULL,
    lower_name         text NOT NULL,
    first_name         text NOT NULL DEFAULT '',
    last_name          text NOT NULL DEFAULT '',
    display_name       text NOT NULL DEFAULT '',
    lower_display_name text NOT NULL DEFAULT '',
    email              text NOT NULL DEFAULT '',
    lower_email        text NOT NULL DEFAULT '',
    active             boolean NOT NULL DEFAULT true,
    credential         text NOT NULL DEFAULT '',
    password_changed_at datetime,
    password_expired   boolean NOT NULL DEFAULT false,
    failed_logins      integer NOT NULL DEFAULT 0,
    locked_until       datetime,
    last_login_at      datetime,
    created_at         datetime NOT NULL,
    updated_at         datetime NOT NULL,
    UNIQUE (directory_id, lower_name),
    UNIQUE (directory_id, external_id)
);
CREATE INDEX users_lower_name ON users (lower_name);
CREATE INDEX users_lower_email ON users (lower_email);

CREATE TABLE user_attributes (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name    text NOT NULL,
    value   text NOT NULL,
    PRIMARY KEY (user_id, name, value)
);

CREATE TABLE groups (
    id           integer PRIMARY KEY AUTOINCREMENT,
    directory_id bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    external_id  text NOT NULL,
    name         text NOT NULL,
    lower_name   text NOT NULL,
    description  text NOT NULL DEFAULT '',
    active       boolean NOT NULL DEFAULT true,
    created_at   datetime NOT NULL,
    updated_at   datetime NOT NULL,
    UNIQUE (directory_id, lower_name),
    UNIQUE (directory_id, external_id)
);
CREATE INDEX groups_lower_name ON groups (lower_name);

CREATE TABLE group_attributes (
    group_id bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    name     text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (group_id, name, value)
);

-- direct memberships; nesting is resolved at read time (cycle-safe, depth-bounded).
CREATE TABLE user_memberships (
    group_id   bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at datetime NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX user_memberships_user ON user_memberships (user_id, group_id);

CREATE TABLE group_memberships (
    parent_id  bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    child_id   bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    created_at datetime NOT NULL,
    PRIMARY KEY (parent_id, child_id),
    CHECK (parent_id <> child_id)
);
CREATE INDEX group_memberships_child ON group_memberships (child_id, parent_id);

-- applications: Crowd REST clients (Jira, Confluence, ...).
CREATE TABLE applications (
    id                integer PRIMARY KEY AUTOINCREMENT,
    name              text NOT NULL,
    lower_name        text NOT NULL UNIQUE,
    description       text NOT NULL DEFAULT '',
    kind              text NOT NULL DEFAULT 'GENERIC',
    credential        text NOT NULL,
    active            boolean NOT NULL DEFAULT true,
    lower_case_output boolean NOT NULL DEFAULT false,
    filter_by_access  boolean NOT NULL DEFAULT false,
    licence_limit     integer NOT NULL DEFAULT 0,
    base_urls         text NOT NULL DEFAULT '',
    config_version    bigint NOT NULL DEFAULT 1,
    created_at        datetime NOT NULL,
    updated_at        datetime NOT NULL
);

CREATE TABLE application_addresses (
    application_id bigint NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    address        text NOT NULL,
    PRIMARY KEY (application_id, address)
);

CREATE TABLE application_directories (
    application_id bigint NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    directory_id   bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    position       integer NOT NULL,
    allow_all      boolean NOT NULL DEFAULT false,
    permissions    text NOT NULL DEFAULT '',
    PRIMARY KEY (application_id, directory_id)
);

-- allowed (licence) groups per mapping, by lower-cased group name as Crowd stores them.
CREATE TABLE application_groups (
    application_id   bigint NOT NULL,
    directory_id     bigint NOT NULL,
    group_lower_name text NOT NULL,
    PRIMARY KEY (application_id, directory_id, group_lower_name),
    FOREIGN KEY (application_id, directory_id)
        REFERENCES application_directories (application_id, directory_id) ON DELETE CASCADE
);

-- SSO and console sessions: only the SHA-256 of the token is stored.
CREATE TABLE sessions (
    id             integer PRIMARY KEY AUTOINCREMENT,
    token_hash     text NOT NULL UNIQUE,
    kind           text NOT NULL DEFAULT 'SSO',
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id bigint REFERENCES applications (id) ON DELETE CASCADE,
    factors        text NOT NULL DEFAULT '',
    remote_address text NOT NULL DEFAULT '',
    idle_seconds   integer NOT NULL,
    created_at     datetime NOT NULL,
    last_access_at datetime NOT NULL,
    expires_at     datetime NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- events: the change stream behind /event; written in the same transaction as the change.
CREATE TABLE events (
    id           integer PRIMARY KEY AUTOINCREMENT,
    created_at   datetime NOT NULL,
    directory_id bigint NOT NULL,
    entity       text NOT NULL,
    operation    text NOT NULL,
    entity_id    bigint NOT NULL DEFAULT 0,
    name         text NOT NULL DEFAULT '',
    other_name   text NOT NULL DEFAULT ''
);
CREATE INDEX events_created ON events (created_at);

-- audit_log: append-only record of who did what, from where.
CREATE TABLE audit_log (
    id          integer PRIMARY KEY AUTOINCREMENT,
    at          datetime NOT NULL,
    actor_kind  text NOT NULL,
    actor       text NOT NULL DEFAULT '',
    source      text NOT NULL DEFAULT '',
    action      text NOT NULL,
    object_kind text NOT NULL DEFAULT '',
    object      text NOT NULL DEFAULT '',
    outcome     text NOT NULL DEFAULT 'SUCCESS',
    details     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, at);

-- sync_state: per directory, the delta links and health of the Entra replica.
CREATE TABLE sync_state (
    directory_id      bigint PRIMARY KEY REFERENCES directories (id) ON DELETE CASCADE,
    users_delta_link  text NOT NULL DEFAULT '',
    groups_delta_link text NOT NULL DEFAULT '',
    last_full_at      datetime,
    last_success_at   datetime,
    last_error        text NOT NULL DEFAULT '',
    updated_at        datetime NOT NULL
);

CREATE TABLE sync_runs (
    id                  integer PRIMARY KEY AUTOINCREMENT,
    directory_id        bigint NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    mode                text NOT NULL,
    status              text NOT NULL,
    instance            text NOT NULL DEFAULT '',
    started_at          datetime NOT NULL,
    finished_at         datetime,
    users_added         integer NOT NULL DEFAULT 0,
    users_updated       integer NOT NULL DEFAULT 0,
    users_removed       integer NOT NULL DEFAULT 0,
    groups_added        integer NOT NULL DEFAULT 0,
    groups_updated      integer NOT NULL DEFAULT 0,
    groups_removed      integer NOT NULL DEFAULT 0,
    memberships_added   integer NOT NULL DEFAULT 0,
    memberships_removed integer NOT NULL DEFAULT 0,
    errors              text NOT NULL DEFAULT ''
);
CREATE INDEX sync_runs_directory ON sync_runs (directory_id, started_at);

-- saml_assertions: replay cache of consumed assertion IDs, shared by all instances.
CREATE TABLE saml_assertions (
    id         text PRIMARY KEY,
    expires_at datetime NOT NULL
);

CREATE TABLE webhooks (
    id             integer PRIMARY KEY AUTOINCREMENT,
    application_id bigint NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    endpoint_url   text NOT NULL,
    token          text NOT NULL DEFAULT '',
    failures       integer NOT NULL DEFAULT 0,
    created_at     datetime NOT NULL,
    UNIQUE (application_id, endpoint_url)
);

-- +goose Down
DROP TABLE webhooks;
DROP TABLE saml_assertions;
DROP TABLE sync_runs;
DROP TABLE sync_state;
DROP TABLE audit_log;
DROP TABLE events;
DROP TABLE sessions;
DROP TABLE application_groups;
DROP TABLE application_directories;
DROP TABLE application_addresses;
DROP TABLE applications;
DROP TABLE group_memberships;
DROP TABLE user_memberships;
DROP TABLE group_attributes;
DROP TABLE groups;
DROP TABLE user_attributes;
DROP TABLE users;
DROP TABLE directories;
DROP TABLE settings;
