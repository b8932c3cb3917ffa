-- +goose Up
-- full_reason: why the next round must be a full one, written in the transaction of the delta page
-- that showed it (an object that was not replicated now is, and its memberships are not known), so a
-- failure before the full round ends does not lose the decision. A complete full round clears it.
ALTER TABLE sync_state ADD COLUMN full_reason text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sync_state DROP COLUMN full_reason;
