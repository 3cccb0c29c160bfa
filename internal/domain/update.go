package domain

import (
	"context"
	"errors"
	"fmt"
)

// MaxUpdateAttempts bounds the optimistic tenant update: how many writes
// UpdateTenant tries before it gives up on a record other writers keep
// changing.
const MaxUpdateAttempts = 10

// ErrUpdateContended is in the chain of the error UpdateTenant returns when
// every attempt lost to another writer.
var ErrUpdateContended = errors.New("other writers kept changing the tenant")

// UpdateTenant loads a tenant, applies change and saves it under optimistic
// concurrency, starting again from a fresh read when another writer got there
// first (at most MaxUpdateAttempts writes). change returns write=false to
// leave the record as it is. It is the one retry loop of every optimistic
// tenant update: a conflict-free update is one read and one write.
func UpdateTenant(ctx context.Context, store TenantStore, tenantID string, change func(*Tenant) (write bool, err error)) (*Tenant, error) {
	t, err := store.GetTenant(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("load tenant %s: %w", tenantID, err)
	}
	return UpdateLoadedTenant(ctx, store, t, change)
}

// UpdateLoadedTenant is UpdateTenant for a caller that has just read t: the
// first attempt applies change to t, later ones to a fresh read.
func UpdateLoadedTenant(ctx context.Context, store TenantStore, t *Tenant, change func(*Tenant) (write bool, err error)) (*Tenant, error) {
	tenantID := t.TenantID
	for attempt := 1; ; attempt++ {
		write, err := change(t)
		if err != nil || !write {
			return t, err
		}
		err = store.UpdateTenant(ctx, t)
		if err == nil {
			return t, nil
		}
		if ErrorCode(err) != CodePreconditionFailed {
			return nil, fmt.Errorf("save tenant %s: %w", tenantID, err)
		}
		if attempt >= MaxUpdateAttempts {
			// Still a stale-ETag error for the callers that map it.
			return nil, Wrap(CodePreconditionFailed, fmt.Errorf("%w: %w", ErrUpdateContended, err),
				"save tenant %s: gave up after %d attempts", tenantID, MaxUpdateAttempts)
		}
		if t, err = store.GetTenant(ctx, tenantID); err != nil {
			return nil, fmt.Errorf("reload tenant %s: %w", tenantID, err)
		}
	}
}
