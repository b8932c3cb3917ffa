package store

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// Webhook is an application's registration to be pinged after directory changes.
type Webhook struct {
	ID            int64
	ApplicationID int64
	EndpointURL   string
	Token         string
	Failures      int
	CreatedAt     time.Time
}

// TableName maps Webhook to its table.
func (Webhook) TableName() string { return "webhooks" }

// RegisterWebhook registers endpoint for an application; registering the same URL again returns the
// existing registration.
func (s *Store) RegisterWebhook(ctx context.Context, appID int64, endpoint, token string) (Webhook, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Webhook{}, fmt.Errorf("webhook endpoint %q must be an absolute http(s) URL: %w", endpoint, ErrInvalid)
	}
	if err := checkText("webhook token", token, 1000); err != nil {
		return Webhook{}, err
	}
	var w Webhook
	err = s.InTx(ctx, func(tx *Store) error {
		var existing []Webhook
		if err := tx.q(ctx).Where("application_id = ? AND endpoint_url = ?", appID, endpoint).Find(&existing).Error; err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		if len(existing) > 0 {
			w = existing[0]
			return nil
		}
		w = Webhook{ApplicationID: appID, EndpointURL: endpoint, Token: token, CreatedAt: tx.now()}
		if err := tx.q(ctx).Create(&w).Error; err != nil {
			return translate(err, "webhook")
		}
		return tx.audit(ctx, "WEBHOOK_REGISTERED", "APPLICATION", fmt.Sprint(appID), endpoint)
	})
	return w, err
}

// Webhook returns one of an application's webhooks.
func (s *Store) Webhook(ctx context.Context, appID, id int64) (Webhook, error) {
	var w Webhook
	err := s.q(ctx).Where("id = ? AND application_id = ?", id, appID).Take(&w).Error
	return w, translate(err, "webhook %d", id)
}

// Webhooks lists every webhook.
func (s *Store) Webhooks(ctx context.Context) ([]Webhook, error) {
	var ws []Webhook
	err := s.q(ctx).Order("id").Find(&ws).Error
	return ws, translate(err, "webhooks")
}

// DeleteWebhook removes one of an application's webhooks.
func (s *Store) DeleteWebhook(ctx context.Context, appID, id int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Exec("DELETE FROM webhooks WHERE id = ? AND application_id = ?", id, appID)
		if res.Error != nil {
			return fmt.Errorf("webhook %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("webhook %d: %w", id, ErrNotFound)
		}
		return tx.audit(ctx, "WEBHOOK_DELETED", "APPLICATION", fmt.Sprint(appID), fmt.Sprint(id))
	})
}
