package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// MaxTransactionItems is DynamoDB's limit on items per TransactWriteItems.
const MaxTransactionItems = 100

// RowWrite is everything one upload row writes: its objects, and for a new
// row its sealed credentials. Secrets appear only sealed (Credentials) or
// hashed (User.PasswordHash, User.InviteHash).
type RowWrite struct {
	Line    int
	Objects pbx.RowObjects
	// Update: the extension exists and the upload's on-existing is update;
	// fields are updated in place and credentials are neither written nor
	// regenerated.
	Update bool
	// CreateDIDs: a row's DID is taken from the operator's free inventory
	// when not yet the tenant's (the caller passes the upload's option only
	// where the operator allows it, DIDPolicy.ClaimFree); otherwise it must
	// already belong to the tenant.
	CreateDIDs  bool
	Credentials pbx.Credentials // new rows only
}

// RowOutcome is what happened to one RowWrite.
type RowOutcome struct {
	Line int
	// Updated is true for an update row written in place.
	Updated bool
	// Already is true when this job had created the row before (a replay):
	// nothing was written and the row counts as created.
	Already bool
	// Err is the row's failure (a *pbx.Error with a report code), nil when
	// the row is created, updated or already done.
	Err error
}

// WriteOptions tune WriteRows.
type WriteOptions struct {
	Job string
	// CreatedAt is the job's creation time: written as CreatedAt and the
	// base of InviteExpires, so a replay writes the same bytes.
	CreatedAt time.Time
	// RowsPerTransaction bounds how many rows share one TransactWriteItems
	// (always within MaxTransactionItems items); 0 means as many as fit.
	RowsPerTransaction int
	// Concurrency is how many transactions run at once (0 or 1: one after
	// the other). Transactions run concurrently only when no two rows of the
	// call share an item, so outcomes do not depend on timing.
	Concurrency int
	// MaxAttempts bounds retries of a throttled or conflicting transaction
	// before its rows fail with pbx.CodeThrottled; 0 means 8.
	MaxAttempts int
}

// WriteStats count what WriteRows spent.
type WriteStats struct {
	Transactions int     // TransactWriteItems calls made (including retries)
	Retries      int     // of which retries after throttling or conflicts
	Reads        int     // BatchGetItem calls for update rows
	ConsumedWCU  float64 // from ReturnConsumedCapacity TOTAL
	// ModelWCU is what DynamoDB bills for the committed items by its rules
	// (a transactional write costs 2 WCU per started KB of item; sizes
	// estimated from attribute names and values). DynamoDB Local reports a
	// flat 4 WCU per transaction whatever its size, so benchmarks against
	// it quote this figure next to ConsumedWCU.
	ModelWCU float64
}

// attrRouteExtension is the attribute of a tenant's DID item naming the
// extension its inbound route rings.
const attrRouteExtension = "Extension"

// item roles, to map a cancellation reason back to what it means for a row.
type role int

const (
	roleExt role = iota // the user's EXT# aggregate
	roleSecret
	roleDID // the DID's owner item, which holds its route
	roleOldRoute
	roleMACOwner
	roleOldMAC
)

type txItem struct {
	role role
	key  string // PK + "|" + SK, to keep two operations on one item apart
	item types.TransactWriteItem
}

type pendingRow struct {
	index int // into the caller's rows
	w     RowWrite
	items []txItem
}

// WriteRows writes each row's items atomically, several rows per
// TransactWriteItems. A row is fully written or not at all; a failing row
// (a conflict, a DID or MAC of another tenant) is dropped with its error and
// the others are resubmitted, so one bad row never fails its neighbours. A
// replayed row this job already created is reported Already. Throttling and
// transaction conflicts are retried with backoff; rows still throttled fail
// with pbx.CodeThrottled. The returned error is only for the batch as a
// whole (context cancelled, table unreachable): rows written before it
// stay written and a rerun finds them Already.
func (s *Store) WriteRows(ctx context.Context, tenant string, rows []RowWrite, opt WriteOptions) ([]RowOutcome, WriteStats, error) {
	var stats WriteStats
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, stats, err
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 8
	}
	out := make([]RowOutcome, len(rows))
	for i, w := range rows {
		out[i] = RowOutcome{Line: w.Line, Updated: w.Update}
	}
	previous, err := s.readEndpointsForUpdate(ctx, tenant, rows, &stats)
	if err != nil {
		return nil, stats, err
	}
	var pending []pendingRow
	for i, w := range rows {
		var prev previousEndpoint
		if w.Update {
			prev = previous[w.Objects.Ext.Number]
		}
		items, err := s.rowItems(tenant, w, opt, prev)
		if err != nil {
			out[i].Err = err
			continue
		}
		pending = append(pending, pendingRow{index: i, w: w, items: items})
	}
	groups, clashed := pack(pending, opt.RowsPerTransaction)
	if opt.Concurrency <= 1 || clashed || len(groups) == 1 {
		// Rows sharing an item run in order, so the first row wins.
		for _, group := range groups {
			if err := s.writeGroup(ctx, tenant, group, opt, out, &stats); err != nil {
				return nil, stats, err
			}
		}
		return out, stats, nil
	}
	// Groups touch disjoint items and disjoint outcomes: run them at once.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		slots    = make(chan struct{}, opt.Concurrency)
	)
	for _, group := range groups {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			var gs WriteStats
			err := s.writeGroup(ctx, tenant, group, opt, out, &gs)
			mu.Lock()
			defer mu.Unlock()
			stats.Transactions += gs.Transactions
			stats.Retries += gs.Retries
			stats.ConsumedWCU += gs.ConsumedWCU
			stats.ModelWCU += gs.ModelWCU
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, stats, firstErr
	}
	return out, stats, nil
}

// pack groups rows into transactions of at most MaxTransactionItems items
// and rowsPerTx rows, never putting two operations on one item into the
// same transaction (DynamoDB rejects that): such a row waits for a later
// transaction, where its conditions decide. clashed reports whether any row was deferred for sharing an item.
func pack(rows []pendingRow, rowsPerTx int) (groups [][]pendingRow, clashed bool) {
	seen := map[string]bool{}
	for _, r := range rows {
		for _, it := range r.items {
			clashed = clashed || seen[it.key]
			seen[it.key] = true
		}
	}
	for len(rows) > 0 {
		var group, rest []pendingRow
		keys := map[string]bool{}
		n := 0
		for _, r := range rows {
			clash := false
			for _, it := range r.items {
				clash = clash || keys[it.key]
			}
			full := n+len(r.items) > MaxTransactionItems || rowsPerTx > 0 && len(group) >= rowsPerTx
			if clash || full {
				rest = append(rest, r)
				continue
			}
			for _, it := range r.items {
				keys[it.key] = true
			}
			n += len(r.items)
			group = append(group, r)
		}
		groups = append(groups, group)
		rows = rest
	}
	return groups, clashed
}

// writeGroup submits one transaction and resolves cancellations row by row
// until every row of the group has an outcome.
func (s *Store) writeGroup(ctx context.Context, tenant string, group []pendingRow, opt WriteOptions, out []RowOutcome, stats *WriteStats) error {
	backoff := newGroupBackoff()
	salt := 0
	for len(group) > 0 {
		err := s.submitGroup(ctx, group, requestToken(tenant, opt.Job, group, salt), stats)
		if err == nil {
			return nil // every row in the group is written
		}
		if ctx.Err() != nil {
			return fmt.Errorf("write rows of %s: %w", tenant, ctx.Err())
		}
		var canceled *types.TransactionCanceledException
		var mismatch *types.IdempotentParameterMismatchException
		switch {
		case errors.As(err, &canceled):
			keep := resolve(group, canceled.CancellationReasons, opt, out)
			if len(keep) < len(group) {
				// Rows were dropped: a new transaction, not a retry of this one.
				group, backoff = keep, newGroupBackoff()
				continue
			}
			// No reason names a row (throttling, a conflict): transient.
		case errors.As(err, &mismatch):
			// The token was used within the last 10 minutes for other
			// content (a retried invocation regenerated secrets): submit
			// under a fresh token; the conditions recognise rows we wrote.
			salt++
			continue
		case throttled(err):
		case invalidRequest(err):
			return s.isolateRejected(ctx, tenant, group, opt, out, stats, err)
		default:
			return fmt.Errorf("write rows of %s (lines %d-%d): %w", tenant, group[0].w.Line, group[len(group)-1].w.Line, err)
		}
		stats.Retries++
		if backoff.attempt++; backoff.attempt >= opt.MaxAttempts {
			for _, r := range group {
				out[r.index].Err = &pbx.Error{Code: pbx.CodeThrottled, Message: "the database was busy; upload the row again", Err: err}
			}
			return nil
		}
		if err := backoff.wait(ctx); err != nil {
			return fmt.Errorf("write rows of %s: %w", tenant, err)
		}
	}
	return nil
}

// submitGroup writes the group's items in one transaction and, when it
// succeeds, adds its capacity to stats.
func (s *Store) submitGroup(ctx context.Context, group []pendingRow, token string, stats *WriteStats) error {
	var items []types.TransactWriteItem
	for _, r := range group {
		for _, it := range r.items {
			items = append(items, it.item)
		}
	}
	res, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:          items,
		ClientRequestToken:     aws.String(token),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	stats.Transactions++
	if err != nil {
		return err
	}
	for _, c := range res.ConsumedCapacity {
		stats.ConsumedWCU += aws.ToFloat64(c.CapacityUnits)
	}
	for _, it := range items {
		stats.ModelWCU += modelWCU(it)
	}
	return nil
}

// isolateRejected handles a transaction the database refused as invalid
// (e.g. an item too large): one row's items are at fault, so each row is
// written alone, and a row refused alone gets an internal error.
func (s *Store) isolateRejected(ctx context.Context, tenant string, group []pendingRow, opt WriteOptions, out []RowOutcome, stats *WriteStats, err error) error {
	if len(group) == 1 {
		out[group[0].index].Err = &pbx.Error{Code: pbx.CodeInternal, Message: "the row's records were rejected by the database", Err: err}
		return nil
	}
	for _, r := range group {
		if err := s.writeGroup(ctx, tenant, []pendingRow{r}, opt, out, stats); err != nil {
			return err
		}
	}
	return nil
}

// groupBackoff paces the retries of one transaction: 25 ms doubling to 2 s,
// each pause jittered to between half and all of it.
type groupBackoff struct {
	attempt int
	pause   time.Duration
}

func newGroupBackoff() groupBackoff { return groupBackoff{pause: 25 * time.Millisecond} }

func (b *groupBackoff) wait(ctx context.Context) error {
	if err := sleepCtx(ctx, b.pause/2+rand.N(b.pause/2+1)); err != nil {
		return err
	}
	b.pause = min(2*b.pause, 2*time.Second)
	return nil
}

// resolve maps cancellation reasons (one per item, in order) to rows. Rows
// with a failed condition get their outcome (Already or a row error) and
// are dropped; the others are returned for resubmission (after a pause when
// none was dropped: the reasons were throttling or conflicts).
func resolve(group []pendingRow, reasons []types.CancellationReason, opt WriteOptions, out []RowOutcome) (keep []pendingRow) {
	i := 0
	for _, r := range group {
		var failed []txItem
		var old []map[string]types.AttributeValue
		for _, it := range r.items {
			if i < len(reasons) {
				switch code := aws.ToString(reasons[i].Code); code {
				case "", "None":
				case "ConditionalCheckFailed":
					failed = append(failed, it)
					old = append(old, reasons[i].Item)
				case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
					// transient: the row is kept and resubmitted
				default: // ValidationError, ItemCollectionSizeLimitExceeded: this row's fault
					failed = append(failed, it)
					old = append(old, nil)
				}
			}
			i++
		}
		if len(failed) == 0 {
			keep = append(keep, r)
			continue
		}
		out[r.index].Already, out[r.index].Err = rowFailure(r.w, failed, old, opt)
	}
	return keep
}

// rowFailure explains why a row's transaction item failed its condition.
func rowFailure(w RowWrite, failed []txItem, old []map[string]types.AttributeValue, opt WriteOptions) (already bool, err error) {
	o := w.Objects
	for i, it := range failed {
		if it.role == roleExt && !w.Update && old[i] != nil &&
			stringAttr(old[i], attrJob) == opt.Job && numberAttr(old[i], "Line") == strconv.Itoa(w.Line) {
			return true, nil // this job created the row already
		}
	}
	var e *pbx.Error
	switch it := failed[0]; it.role {
	case roleExt, roleSecret:
		if w.Update {
			e = pbx.Errorf(pbx.ENOTFOUND, "extension", "extension %s no longer exists, it cannot be updated", o.Ext.Number)
		} else {
			e = pbx.Errorf(pbx.CodeExtensionExists, "extension", "extension %s already exists", o.Ext.Number)
		}
	case roleDID:
		// The owner item says whose the number is and where it routes. The
		// tenant's own number routed elsewhere is a route conflict; anything
		// else gets the one answer whatever the reason (inventory.go).
		if was := old[0]; was != nil && stringAttr(was, attrOwnerTenant) == w.Objects.User.Tenant {
			e = pbx.Errorf(pbx.CodeDIDTaken, "did", "DID %s already routes to another extension", o.DID.Number)
		} else {
			return false, didUnavailable(o.DID.Number)
		}
	case roleOldRoute:
		e = pbx.Errorf(pbx.CodeDIDTaken, "did", "the route of the extension's previous DID was changed meanwhile; upload the row again")
	case roleMACOwner, roleOldMAC:
		e = pbx.Errorf(pbx.CodeMACTaken, "mac", "MAC %s is already assigned to another phone", o.Endpoint.Device.MAC)
	default:
		e = pbx.Errorf(pbx.CodeInternal, "", "the row's records could not be written")
	}
	return false, e
}

func throttled(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
		"TransactionInProgressException", "TransactionConflictException", "InternalServerError":
		return true
	}
	return false
}

func invalidRequest(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ValidationException"
}

// requestToken is the transaction's ClientRequestToken (≤ 36 characters):
// a hash of the job and of the rows' contents without their secrets, so an
// SDK-level resend of the same transaction within DynamoDB's 10-minute
// window is recognised as already done. salt changes it when the same rows
// must be submitted with new content.
func requestToken(tenant, job string, group []pendingRow, salt int) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00", tenant, job, salt)
	for _, r := range group {
		o := r.w.Objects
		o.User.PasswordHash, o.User.InviteHash = "", ""
		b, _ := json.Marshal(struct {
			Line       int
			Update     bool
			CreateDIDs bool
			Objects    pbx.RowObjects
		}{r.w.Line, r.w.Update, r.w.CreateDIDs, o})
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// previousEndpoint is what an update row replaces.
type previousEndpoint struct{ MAC, DID string }

// readEndpointsForUpdate reads the endpoint part of update rows' EXT#
// items (one consistent BatchGetItem per 100), to release a replaced MAC
// or DID route. Keyed by extension.
func (s *Store) readEndpointsForUpdate(ctx context.Context, tenant string, rows []RowWrite, stats *WriteStats) (map[string]previousEndpoint, error) {
	var keys []map[string]types.AttributeValue
	seen := map[string]bool{}
	for _, w := range rows {
		if ext := w.Objects.Ext.Number; w.Update && !seen[ext] {
			seen[ext] = true
			keys = append(keys, itemKey(TenantPK(tenant), ExtensionSK(ext)))
		}
	}
	prev := map[string]previousEndpoint{}
	for start := 0; start < len(keys); start += batchGetMax {
		items, err := s.batchGet(ctx, keys[start:min(start+batchGetMax, len(keys))])
		stats.Reads++
		if err != nil {
			return nil, fmt.Errorf("read endpoints of %s for update: %w", tenant, err)
		}
		for _, it := range items {
			ep := mapAttr(it, objEndpoint)
			prev[strings.TrimPrefix(stringAttr(it, AttrSK), extPrefix)] = previousEndpoint{MAC: stringAttr(ep, "MAC"), DID: stringAttr(ep, "DID")}
		}
	}
	return prev, nil
}

// attrs makes string attributes from name/value pairs, leaving out empty values.
func attrs(pairs ...string) map[string]types.AttributeValue {
	m := make(map[string]types.AttributeValue, len(pairs)/2+4)
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			m[pairs[i]] = &types.AttributeValueMemberS{Value: pairs[i+1]}
		}
	}
	return m
}

// mapAttr returns a map attribute's value, nil when absent.
func mapAttr(item map[string]types.AttributeValue, name string) map[string]types.AttributeValue {
	if v, ok := item[name].(*types.AttributeValueMemberM); ok {
		return v.Value
	}
	return nil
}

// numberAttr returns a number attribute's text, "" when absent.
func numberAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

// modelWCU is the write capacity DynamoDB bills for one transactional item:
// 2 WCU per started KB (Update and Delete assumed within 1 KB; a
// ConditionCheck costs read units only).
func modelWCU(it types.TransactWriteItem) float64 {
	switch {
	case it.Put != nil:
		kb := (ItemSize(it.Put.Item) + 1023) / 1024
		return float64(2 * max(kb, 1))
	case it.Update != nil, it.Delete != nil:
		return 2
	}
	return 0
}
