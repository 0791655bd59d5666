package e2ebench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/bulkprov/bulkprov/internal/welcome"
)

// writeCeiling is what DynamoDB Local alone needs to write a finished job's
// records: every item the job left in the table (whatever the layout),
// written again under fresh keys as conditional puts, 100 per
// TransactWriteItems. rowsPerSecond at the pipeline's records concurrency
// is an upper bound of the pipeline's speed on this stack (phase 2's ledger
// updates and every other step come on top); serialParallel is the rate at
// `workers` divided by the rate at one worker, ≈1 when the emulator
// serializes writes to the table whatever the concurrency.
//
// allWritesRowsPerSecond adds what phase 2 writes on top of those items, as
// send-welcome writes it (through the store): each emailed row's ledger
// reservation and close (conditional single-item updates, 25 per
// BatchExecuteStatement) and its invite item (25 per BatchWriteItem). It is
// the ceiling for all of the pipeline's own item writes (writesPerRow of
// them); the items-only ceiling leaves out about half of them, so a pipeline
// could reach at most itemsPerRow/writesPerRow of it even if nothing but
// its writes cost time.
type writeCeiling struct {
	rowsPerSecond          float64
	itemsPerRow            float64
	serialParallel         float64
	allWritesRowsPerSecond float64
	writesPerRow           float64
}

// setupItem reports items that are not a job's row records: settings, the
// job, the tenant's phone credential, invites (written by the welcome step
// outside the row transactions) and the baseline's own items.
func setupItem(pk, sk string) bool {
	switch {
	case pk == store.SystemPK(), strings.HasPrefix(pk, "BENCH#"), strings.HasPrefix(pk, "REPLAY"),
		strings.HasPrefix(pk, store.TenantPK(replayTenantPrefix)), strings.HasPrefix(pk, store.InvitePK("")):
		return true
	case sk == store.SKSettings, strings.HasPrefix(sk, store.JobSK("")):
		return true
	}
	return false
}

func measureWriteCeiling(ctx context.Context, p *localrun.Pipeline, job jobmodel.Job, rows, workers int) (writeCeiling, error) {
	db, table := p.Stack.Clients.DynamoDB, p.Stack.Table
	var items, invites []map[string]types.AttributeValue
	var endpoints []string // the job's SIP users (its SECRET# items)
	pager := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return writeCeiling{}, fmt.Errorf("scan %s: %w", table, err)
		}
		for _, it := range page.Items {
			pk, sk := attrString(it, store.AttrPK), attrString(it, store.AttrSK)
			switch {
			case strings.HasPrefix(pk, store.InvitePK("")):
				invites = append(invites, it)
			case !setupItem(pk, sk):
				items = append(items, it)
				if strings.HasPrefix(sk, store.SecretSK("")) {
					endpoints = append(endpoints, strings.TrimPrefix(sk, store.SecretSK("")))
				}
			}
		}
	}
	if len(items) == 0 {
		return writeCeiling{}, fmt.Errorf("job %s left no items in %s", job.ID, table)
	}
	st := store.New(db, table)
	ledger, err := st.GetEmailLedger(ctx, job.Tenant, welcome.Purpose, endpoints)
	if err != nil {
		return writeCeiling{}, fmt.Errorf("email ledger of job %s: %w", job.ID, err)
	}
	var emailed []string // SIP users whose welcome email was sent
	for _, u := range endpoints {
		if ledger[u].Status == store.LedgerSent {
			emailed = append(emailed, u)
		}
	}
	r := replayer{db: db, st: st, table: table, items: items, workers: workers}
	parallel, err := r.writeItems(ctx, replayTenantPrefix+"a", workers)
	if err != nil {
		return writeCeiling{}, fmt.Errorf("replay at %d workers: %w", workers, err)
	}
	serial, err := r.writeItems(ctx, replayTenantPrefix+"b", 1)
	if err != nil {
		return writeCeiling{}, fmt.Errorf("replay at one worker: %w", err)
	}
	all, err := r.writeItems(ctx, replayTenantPrefix+"c", workers)
	if err != nil {
		return writeCeiling{}, fmt.Errorf("replay of all writes at %d workers: %w", workers, err)
	}
	phase2, err := r.phase2(ctx, replayTenantPrefix+"c", job.ID, emailed, invites)
	if err != nil {
		return writeCeiling{}, fmt.Errorf("replay of phase 2's writes at %d workers: %w", workers, err)
	}
	return writeCeiling{
		rowsPerSecond:          float64(rows) / parallel.Seconds(),
		itemsPerRow:            float64(len(items)) / float64(rows),
		serialParallel:         serial.Seconds() / parallel.Seconds(),
		allWritesRowsPerSecond: float64(rows) / (all + phase2).Seconds(),
		writesPerRow:           float64(len(items)+2*len(emailed)+len(invites)) / float64(rows),
	}, nil
}

// replayTenantPrefix names the tenants the replays write under (valid
// tenant names, so that the store's own ledger and invite writes apply).
const replayTenantPrefix = "replay"

// replayer writes a job's items again under another tenant, and phase 2's
// writes on them.
type replayer struct {
	db      *dynamodb.Client
	st      *store.Store
	table   string
	items   []map[string]types.AttributeValue
	workers int
}

// replayKey moves an item to tenant: its tenant partition becomes tenant's,
// a global item (DID, MAC owner) gets tenant as a prefix.
func replayKey(tenant, pk string) string {
	if strings.HasPrefix(pk, store.TenantPK("")) {
		return store.TenantPK(tenant)
	}
	return "REPLAY#" + tenant + "#" + pk
}

// items writes every item again under tenant as conditional puts, 100 per
// transaction, workers at a time.
func (r replayer) writeItems(ctx context.Context, tenant string, workers int) (time.Duration, error) {
	var work []func() error
	for start := 0; start < len(r.items); start += store.MaxTransactionItems {
		var tx []types.TransactWriteItem
		for _, it := range r.items[start:min(start+store.MaxTransactionItems, len(r.items))] {
			copyItem := maps.Clone(it)
			copyItem[store.AttrPK] = &types.AttributeValueMemberS{Value: replayKey(tenant, attrString(it, store.AttrPK))}
			tx = append(tx, types.TransactWriteItem{Put: &types.Put{
				TableName: aws.String(r.table), Item: copyItem,
				ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
				ExpressionAttributeNames: map[string]string{"#pk": store.AttrPK},
			}})
		}
		work = append(work, func() error {
			_, err := r.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
			return err
		})
	}
	return runWork(ctx, workers, work)
}

// phase2 writes what send-welcome writes for the emailed rows of tenant's
// replayed items: each email's reservation and its close, 25 a call, and
// the invites, 25 a call, r.workers at a time.
func (r replayer) phase2(ctx context.Context, tenant, job string, emailed []string, invites []map[string]types.AttributeValue) (time.Duration, error) {
	const chunk = 25
	now := time.Now().UTC()
	var work []func() error
	for start := 0; start < len(emailed); start += chunk {
		users := emailed[start:min(start+chunk, len(emailed))]
		work = append(work, func() error {
			rs := make([]store.EmailReservation, len(users))
			outs := make([]store.EmailOutcome, len(users))
			for i, u := range users {
				rs[i] = store.EmailReservation{User: u, SIPUser: u, Purpose: welcome.Purpose, Job: job, Line: start + i + 2, Attempt: "replay", At: now}
				outs[i] = store.EmailOutcome{SIPUser: u, Purpose: welcome.Purpose, Attempt: "replay", Sent: true, MessageID: "replay-" + u, At: now}
			}
			// The replayed entries are SENT already: take them over, as a
			// resend would, so every reservation writes.
			for i := range rs {
				rs[i].TakeOver = true
			}
			if _, err := r.st.ReserveEmails(ctx, tenant, rs); err != nil {
				return err
			}
			return r.st.FinishEmails(ctx, tenant, outs)
		})
	}
	for start := 0; start < len(invites); start += chunk {
		batch := invites[start:min(start+chunk, len(invites))]
		work = append(work, func() error {
			in := make([]store.Invite, len(batch))
			for i, it := range batch {
				sum := sha256.Sum256([]byte(tenant + attrString(it, store.AttrPK)))
				in[i] = store.Invite{Hash: hex.EncodeToString(sum[:]), User: attrString(it, "User"), SIPUser: attrString(it, "SIPUser"), Job: job, Expires: now.Add(time.Hour)}
			}
			return r.st.PutInvites(ctx, tenant, in)
		})
	}
	return runWork(ctx, r.workers, work)
}

// runWork runs work on workers goroutines and returns how long it took;
// the first error stops the rest.
func runWork(ctx context.Context, workers int, work []func() error) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan func() error)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for w := range next {
				if err := w(); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, w := range work {
		select {
		case next <- w:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func attrString(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
