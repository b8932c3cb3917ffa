-- +goose Up
-- Internal directories without a password policy get the default minimum length of 12 characters
-- (store.DefaultMinPasswordLen) for new passwords; existing passwords keep working.
UPDATE directories SET min_password_len = 12 WHERE kind = 'INTERNAL' AND min_password_len = 0;

-- +goose Down
SELECT 1;
