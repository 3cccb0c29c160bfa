package tablestore

import (
	"context"
	"fmt"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Single-row records keep RowKey empty.
const noRowKey = ""

// sameOwnerRetries bounds insert-or-read loops. A record these loops read
// after a 409 is never deleted, except consent states.
const sameOwnerRetries = 3

// ReserveTenantKey inserts the reservation; a code already held by the same
// tenant succeeds, one held by another tenant is CodeConflict.
func (s *Store) ReserveTenantKey(ctx context.Context, code, tenantID string) error {
	if err := validKey("tenantKeyCode", code); err != nil {
		return err
	}
	if err := validKey("tenantId", tenantID); err != nil {
		return err
	}
	for range sameOwnerRetries {
		e := newEntity(s.tenantKeys.name, code, noRowKey).
			str("TenantID", tenantID).
			time("ReservedAt", s.now())
		_, err := s.tenantKeys.add(ctx, e)
		if !isCode(err, domain.CodeConflict) {
			return err
		}
		owner, err := s.TenantKeyOwner(ctx, code)
		if isCode(err, domain.CodeNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if owner == tenantID {
			return nil
		}
		return domain.Errorf(domain.CodeConflict, "tenant key %s is reserved by another tenant", code)
	}
	return domain.Errorf(domain.CodeUnavailable, "tenant key %s: reservation kept changing; retry", code)
}

// TenantKeyOwner returns the tenant holding code; CodeNotFound if none.
func (s *Store) TenantKeyOwner(ctx context.Context, code string) (string, error) {
	if err := validKey("tenantKeyCode", code); err != nil {
		return "", err
	}
	r, err := s.tenantKeys.get(ctx, code, noRowKey)
	if err != nil {
		return "", err
	}
	owner := r.str("TenantID")
	return owner, r.err
}

// PutInvite stores an invite; re-putting the same invite succeeds, a token
// hash bound to another tenant is CodeConflict.
func (s *Store) PutInvite(ctx context.Context, inv domain.Invite) error {
	if err := validKey("tokenHash", inv.TokenHash); err != nil {
		return err
	}
	e := newEntity(s.invites.name, inv.TokenHash, noRowKey).
		str("TenantID", inv.TenantID).
		time("IssuedAt", inv.IssuedAt).
		time("ExpiresAt", inv.ExpiresAt)
	_, err := s.invites.add(ctx, e)
	if !isCode(err, domain.CodeConflict) {
		return err
	}
	// A retried insert whose first attempt landed: same tenant, fine.
	got, gerr := s.GetInvite(ctx, inv.TokenHash)
	if gerr == nil && got.TenantID == inv.TenantID {
		return nil
	}
	return err
}

// GetInvite reads an invite; CodeNotFound if absent. Expiry is the caller's
// to check.
func (s *Store) GetInvite(ctx context.Context, tokenHash string) (domain.Invite, error) {
	if err := validKey("tokenHash", tokenHash); err != nil {
		return domain.Invite{}, err
	}
	r, err := s.invites.get(ctx, tokenHash, noRowKey)
	if err != nil {
		return domain.Invite{}, err
	}
	inv := domain.Invite{
		TokenHash: tokenHash,
		TenantID:  r.str("TenantID"),
		IssuedAt:  r.time("IssuedAt"),
		ExpiresAt: r.time("ExpiresAt"),
	}
	return inv, r.err
}

// PutStatusLink stores a status-page link; re-putting the same link succeeds,
// a token hash bound to another tenant is CodeConflict.
func (s *Store) PutStatusLink(ctx context.Context, l domain.StatusLink) error {
	if err := validKey("tokenHash", l.TokenHash); err != nil {
		return err
	}
	e := newEntity(s.statusLinks.name, l.TokenHash, noRowKey).
		str("TenantID", l.TenantID).
		int32("Generation", l.Generation).
		time("IssuedAt", l.IssuedAt)
	_, err := s.statusLinks.add(ctx, e)
	if !isCode(err, domain.CodeConflict) {
		return err
	}
	got, gerr := s.GetStatusLink(ctx, l.TokenHash)
	if gerr == nil && got.TenantID == l.TenantID && got.Generation == l.Generation {
		return nil
	}
	return err
}

// GetStatusLink reads a status-page link; CodeNotFound if absent.
func (s *Store) GetStatusLink(ctx context.Context, tokenHash string) (domain.StatusLink, error) {
	if err := validKey("tokenHash", tokenHash); err != nil {
		return domain.StatusLink{}, err
	}
	r, err := s.statusLinks.get(ctx, tokenHash, noRowKey)
	if err != nil {
		return domain.StatusLink{}, err
	}
	l := domain.StatusLink{TokenHash: tokenHash, TenantID: r.str("TenantID"), Generation: r.int("Generation"), IssuedAt: r.time("IssuedAt")}
	return l, r.err
}

// PutConsentState stores a one-time state (idempotent for the same tenant,
// like PutInvite).
func (s *Store) PutConsentState(ctx context.Context, st domain.ConsentState) error {
	if err := validKey("stateHash", st.StateHash); err != nil {
		return err
	}
	e := newEntity(s.consentStates.name, st.StateHash, noRowKey).
		str("TenantID", st.TenantID).
		str("ClientIP", st.ClientIP).
		time("CreatedAt", st.CreatedAt).
		time("ExpiresAt", st.ExpiresAt)
	_, err := s.consentStates.add(ctx, e)
	if !isCode(err, domain.CodeConflict) {
		return err
	}
	r, gerr := s.consentStates.get(ctx, st.StateHash, noRowKey)
	if gerr == nil && r.str("TenantID") == st.TenantID {
		return nil
	}
	return err
}

// GetConsentState reads a state without consuming it; CodeNotFound if absent.
func (s *Store) GetConsentState(ctx context.Context, stateHash string) (domain.ConsentState, error) {
	if err := validKey("stateHash", stateHash); err != nil {
		return domain.ConsentState{}, err
	}
	r, err := s.consentStates.get(ctx, stateHash, noRowKey)
	if err != nil {
		return domain.ConsentState{}, err
	}
	st := domain.ConsentState{StateHash: stateHash, TenantID: r.str("TenantID"), ClientIP: r.str("ClientIP"),
		CreatedAt: r.time("CreatedAt"), ExpiresAt: r.time("ExpiresAt")}
	return st, r.err
}

// ConsumeConsentState reads and deletes the state with the version read:
// of concurrent consumers exactly one gets it, the others CodeNotFound.
func (s *Store) ConsumeConsentState(ctx context.Context, stateHash string) (domain.ConsentState, error) {
	if err := validKey("stateHash", stateHash); err != nil {
		return domain.ConsentState{}, err
	}
	r, err := s.consentStates.get(ctx, stateHash, noRowKey)
	if err != nil {
		return domain.ConsentState{}, err
	}
	st := domain.ConsentState{
		StateHash: stateHash,
		TenantID:  r.str("TenantID"),
		ClientIP:  r.str("ClientIP"),
		CreatedAt: r.time("CreatedAt"),
		ExpiresAt: r.time("ExpiresAt"),
	}
	if r.err != nil {
		return domain.ConsentState{}, r.err
	}
	err = s.consentStates.remove(ctx, stateHash, noRowKey, r.etag)
	if isCode(err, domain.CodePreconditionFailed) || isCode(err, domain.CodeNotFound) {
		return domain.ConsentState{}, domain.Wrap(domain.CodeNotFound, err, "consent state already used")
	}
	if err != nil {
		return domain.ConsentState{}, err
	}
	return st, nil
}

// CreateProvisioningRecord inserts (CodeConflict if the request ID exists)
// and sets r.ETag. A zero ReceivedAt is set to now.
func (s *Store) CreateProvisioningRecord(ctx context.Context, rec *domain.ProvisioningRecord) error {
	if err := validKey("requestId", rec.RequestID); err != nil {
		return err
	}
	if rec.ReceivedAt.IsZero() {
		rec.ReceivedAt = s.now()
	}
	rec.ReceivedAt, rec.CompletedAt = storedTime(rec.ReceivedAt), storedTime(rec.CompletedAt)
	etag, err := s.provisioning.add(ctx, provisioningEntity(s.provisioning.name, rec))
	if err != nil {
		return err
	}
	rec.ETag = etag
	return nil
}

// GetProvisioningRecord reads a record; CodeNotFound if absent.
func (s *Store) GetProvisioningRecord(ctx context.Context, requestID string) (*domain.ProvisioningRecord, error) {
	if err := validKey("requestId", requestID); err != nil {
		return nil, err
	}
	r, err := s.provisioning.get(ctx, requestID, noRowKey)
	if err != nil {
		return nil, err
	}
	rec := &domain.ProvisioningRecord{
		RequestID:   requestID,
		TenantID:    r.str("TenantID"),
		BodyHash:    r.str("BodyHash"),
		ReceivedAt:  r.time("ReceivedAt"),
		CompletedAt: r.time("CompletedAt"),
		KeyCode:     r.str("KeyCode"),
		Outcome:     r.str("Outcome"),
		ETag:        r.etag,
	}
	return rec, r.err
}

// UpdateProvisioningRecord replaces the record if rec.ETag is current and
// sets rec.ETag to the new version.
func (s *Store) UpdateProvisioningRecord(ctx context.Context, rec *domain.ProvisioningRecord) error {
	if err := validKey("requestId", rec.RequestID); err != nil {
		return err
	}
	rec.ReceivedAt, rec.CompletedAt = storedTime(rec.ReceivedAt), storedTime(rec.CompletedAt)
	etag, err := s.provisioning.replace(ctx, provisioningEntity(s.provisioning.name, rec), rec.ETag)
	if err != nil {
		return err
	}
	rec.ETag = etag
	return nil
}

func provisioningEntity(table string, rec *domain.ProvisioningRecord) *entity {
	return newEntity(table, rec.RequestID, noRowKey).
		str("TenantID", rec.TenantID).
		str("BodyHash", rec.BodyHash).
		time("ReceivedAt", rec.ReceivedAt).
		time("CompletedAt", rec.CompletedAt).
		str("KeyCode", rec.KeyCode).
		str("Outcome", rec.Outcome)
}

// ClaimMail inserts the record if absent and sets m.ETag. If a record exists
// it is copied into *m (with its ETag) and CodeConflict returned, so the
// caller can skip (sent) or take over a stale lease with UpdateMail. A
// record that already names m.Owner is this call's own insert, applied by
// an earlier try the SDK retried after a timeout (a "ghost write"): that is
// success. The idempotency key is stored under escapeKey (keys.go): it may
// hold characters Azure forbids in keys.
func (s *Store) ClaimMail(ctx context.Context, m *domain.MailRecord) error {
	if m.Key == "" {
		return domain.FieldError("idempotencyKey", "is required")
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = s.now()
	}
	m.UpdatedAt, m.LeaseEnds = storedTime(m.UpdatedAt), storedTime(m.LeaseEnds)
	for range sameOwnerRetries {
		etag, err := s.sentMail.add(ctx, mailEntity(s.sentMail.name, m))
		if err == nil {
			m.ETag = etag
			return nil
		}
		if !isCode(err, domain.CodeConflict) {
			return err
		}
		existing, gerr := s.GetMail(ctx, m.Key)
		if isCode(gerr, domain.CodeNotFound) {
			continue
		}
		if gerr != nil {
			return gerr
		}
		if sameMailWrite(existing, m) {
			*m = *existing
			return nil
		}
		*m = *existing
		return err
	}
	return domain.Errorf(domain.CodeUnavailable, "mail %q: record kept changing; retry", m.Key)
}

// GetMail reads a mail record by idempotency key; CodeNotFound if absent.
func (s *Store) GetMail(ctx context.Context, key string) (*domain.MailRecord, error) {
	if key == "" {
		return nil, domain.FieldError("idempotencyKey", "is required")
	}
	r, err := s.sentMail.get(ctx, escapeKey(key), noRowKey)
	if err != nil {
		return nil, fmt.Errorf("mail %q: %w", key, err)
	}
	m := &domain.MailRecord{
		Key:       r.str("Key"),
		Status:    r.str("Status"),
		Owner:     r.str("Owner"),
		Kind:      domain.EmailKind(r.str("Kind")),
		TenantID:  r.str("TenantID"),
		LeaseEnds: r.time("LeaseEnds"),
		UpdatedAt: r.time("UpdatedAt"),
		Detail:    r.str("Detail"),
		ETag:      r.etag,
	}
	return m, r.err
}

// UpdateMail replaces the record if m.ETag is current and sets m.ETag. A
// 412 whose stored record is exactly what this call wrote (an earlier try
// landed, then the SDK retried) is success too.
func (s *Store) UpdateMail(ctx context.Context, m *domain.MailRecord) error {
	if m.Key == "" {
		return domain.FieldError("idempotencyKey", "is required")
	}
	m.UpdatedAt, m.LeaseEnds = storedTime(m.UpdatedAt), storedTime(m.LeaseEnds)
	e := mailEntity(s.sentMail.name, m)
	etag, err := s.sentMail.replace(ctx, e, m.ETag)
	if isCode(err, domain.CodePreconditionFailed) && m.Owner != "" {
		if cur, gerr := s.GetMail(ctx, m.Key); gerr == nil && sameMailWrite(cur, m) && cur.Detail == storedDetail(e) {
			m.ETag = cur.ETag
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("mail %q: %w", m.Key, err)
	}
	m.ETag = etag
	return nil
}

// sameMailWrite reports whether stored is the write m describes (owner,
// status, lease and time; the lease and time make each write distinct).
func sameMailWrite(stored, m *domain.MailRecord) bool {
	return m.Owner != "" && stored.Owner == m.Owner && stored.Status == m.Status &&
		stored.LeaseEnds.Equal(m.LeaseEnds) && stored.UpdatedAt.Equal(m.UpdatedAt)
}

// storedDetail is the Detail as marshal stores it (cut to fit).
func storedDetail(e *entity) string {
	e.fit()
	for _, p := range e.props {
		if p.name == "Detail" {
			return p.value.(string)
		}
	}
	return ""
}

func mailEntity(table string, m *domain.MailRecord) *entity {
	return newEntity(table, escapeKey(m.Key), noRowKey).
		str("Key", m.Key).
		str("Status", m.Status).
		str("Owner", m.Owner).
		str("Kind", string(m.Kind)).
		str("TenantID", m.TenantID).
		time("LeaseEnds", m.LeaseEnds).
		time("UpdatedAt", m.UpdatedAt).
		text("Detail", m.Detail)
}
