-- +goose Up
-- user_app_logins: when each user last authenticated to each application (POST /authentication,
-- POST /session, SAML sign-in, break-glass). Written behind in batches, never lowered: a flush
-- keeps the later of the stored and the new time, so instances may flush in any order. The last
-- sign-in to anything (console included) is users.last_login_at.
CREATE TABLE user_app_logins (
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id bigint NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    last_at        datetime NOT NULL,
    PRIMARY KEY (user_id, application_id)
);
CREATE INDEX user_app_logins_application ON user_app_logins (application_id);

-- +goose Down
DROP TABLE user_app_logins;
