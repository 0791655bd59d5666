package e2ebench

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/local/localrun"
	"github.com/bulkprov/bulkprov/internal/store"
)

// writeCeiling is what DynamoDB Local alone needs to write a finished job's
// records: every item the job left in the table (whatever the layout),
// written again under fresh keys as conditional puts, 100 per
// TransactWriteItems. rowsPerSecond at the pipeline's records concurrency
// is an upper bound of the pipeline's speed on this stack (phase 2's ledger
// updates and every other step come on top); serialParallel is the rate at
// `workers` divided by the rate at one worker, ≈1 when the emulator
// serializes writes to the table whatever the concurrency.
type writeCeiling struct {
	rowsPerSecond  float64
	itemsPerRow    float64
	serialParallel float64
}

// setupItem reports items that are not a job's row records: settings, the
// job, the tenant's phone credential, invites (written by the welcome step
// outside the row transactions) and the baseline's own items.
func setupItem(pk, sk string) bool {
	switch {
	case pk == store.SystemPK(), strings.HasPrefix(pk, "BENCH#"), strings.HasPrefix(pk, "REPLAY"),
		strings.HasPrefix(pk, store.InvitePK("")):
		return true
	case sk == store.SKSettings, strings.HasPrefix(sk, store.JobSK("")):
		return true
	}
	return false
}

func measureWriteCeiling(ctx context.Context, p *localrun.Pipeline, job jobmodel.Job, rows, workers int) (writeCeiling, error) {
	db, table := p.Stack.Clients.DynamoDB, p.Stack.Table
	var items []map[string]types.AttributeValue
	pager := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return writeCeiling{}, fmt.Errorf("scan %s: %w", table, err)
		}
		for _, it := range page.Items {
			pk, sk := attrString(it, store.AttrPK), attrString(it, store.AttrSK)
			if !setupItem(pk, sk) {
				items = append(items, it)
			}
		}
	}
	if len(items) == 0 {
		return writeCeiling{}, fmt.Errorf("job %s left no items in %s", job.ID, table)
	}
	replay := func(round string, workers int) (time.Duration, error) {
		var txs [][]types.TransactWriteItem
		for start := 0; start < len(items); start += store.MaxTransactionItems {
			var tx []types.TransactWriteItem
			for _, it := range items[start:min(start+store.MaxTransactionItems, len(items))] {
				copyItem := maps.Clone(it)
				copyItem[store.AttrPK] = &types.AttributeValueMemberS{Value: round + attrString(it, store.AttrPK)}
				tx = append(tx, types.TransactWriteItem{Put: &types.Put{
					TableName: aws.String(table), Item: copyItem,
					ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
					ExpressionAttributeNames: map[string]string{"#pk": store.AttrPK},
				}})
			}
			txs = append(txs, tx)
		}
		work := make(chan []types.TransactWriteItem)
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for tx := range work {
					if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for _, tx := range txs {
			select {
			case work <- tx:
			case err := <-errs:
				close(work)
				wg.Wait()
				return 0, err
			}
		}
		close(work)
		wg.Wait()
		select {
		case err := <-errs:
			return 0, err
		default:
		}
		return time.Since(start), ctx.Err()
	}
	parallel, err := replay("REPLAY1#", workers)
	if err != nil {
		return writeCeiling{}, fmt.Errorf("replay at %d workers: %w", workers, err)
	}
	serial, err := replay("REPLAY2#", 1)
	if err != nil {
		return writeCeiling{}, fmt.Errorf("replay at one worker: %w", err)
	}
	return writeCeiling{
		rowsPerSecond:  float64(rows) / parallel.Seconds(),
		itemsPerRow:    float64(len(items)) / float64(rows),
		serialParallel: serial.Seconds() / parallel.Seconds(),
	}, nil
}

func attrString(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
