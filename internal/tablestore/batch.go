package tablestore

import (
	"context"
	"encoding/json"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Azure's entity-group transaction rules. Azurite accepts cross-partition
// batches and fails oddly above 100 operations, so transactions are only
// built through planBatches, which enforces them.
const (
	maxBatchOps   = 100
	maxBatchBytes = 4_000_000 // 4 MiB payload limit, minus room for multipart framing
)

// batchOp is one operation of a transaction.
type batchOp struct {
	kind aztables.TransactionType
	e    *entity // for deletes only pk and rk matter
}

func upsertOp(e *entity) batchOp { return batchOp{kind: aztables.TransactionTypeInsertReplace, e: e} }
func deleteOp(table, pk, rk string) batchOp {
	return batchOp{kind: aztables.TransactionTypeDelete, e: newEntity(table, pk, rk)}
}

// encodedBatch is one transaction ready to submit.
type encodedBatch struct {
	pk      string
	actions []aztables.TransactionAction
}

// planBatches groups ops by partition (first-seen order) and splits each
// group into transactions of at most 100 operations and 4 MB, with no row
// key twice in one transaction.
func planBatches(ops []batchOp) ([]encodedBatch, error) {
	var order []string
	groups := map[string][]batchOp{}
	for _, op := range ops {
		if _, ok := groups[op.e.pk]; !ok {
			order = append(order, op.e.pk)
		}
		groups[op.e.pk] = append(groups[op.e.pk], op)
	}
	var out []encodedBatch
	for _, pk := range order {
		cur := encodedBatch{pk: pk}
		size := 0
		rows := map[string]bool{}
		for _, op := range groups[pk] {
			body, err := encodeOp(op)
			if err != nil {
				return nil, err
			}
			if len(cur.actions) == maxBatchOps || size+len(body) > maxBatchBytes || rows[op.e.rk] {
				out = append(out, cur)
				cur, size, rows = encodedBatch{pk: pk}, 0, map[string]bool{}
			}
			cur.actions = append(cur.actions, aztables.TransactionAction{ActionType: op.kind, Entity: body})
			size += len(body)
			rows[op.e.rk] = true
		}
		if len(cur.actions) > 0 {
			out = append(out, cur)
		}
	}
	return out, nil
}

func encodeOp(op batchOp) ([]byte, error) {
	if op.kind != aztables.TransactionTypeDelete {
		return op.e.marshal()
	}
	if err := op.e.check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(map[string]string{"PartitionKey": op.e.pk, "RowKey": op.e.rk})
	if err != nil {
		return nil, domain.Wrap(domain.CodeInternal, err, "encode delete")
	}
	return b, nil
}

// submit runs ops as transactions (each atomic within its partition chunk).
func (t *table) submit(ctx context.Context, ops []batchOp) error {
	batches, err := planBatches(ops)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if _, err := t.client.SubmitTransaction(ctx, b.actions, nil); err != nil {
			return classify(err, "transaction of %d operations on %s partition %q", len(b.actions), t.name, b.pk)
		}
	}
	return nil
}
