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
	Credentials Credentials // new rows only
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
	jittered := b.pause/2 + rand.N(b.pause/2+1)
	select {
	case <-time.After(jittered):
	case <-ctx.Done():
		return ctx.Err()
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
			stringAttr(old[i], "Job") == opt.Job && numberAttr(old[i], "Line") == strconv.Itoa(w.Line) {
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

// The object groups of a user's EXT# item: one map attribute per PBX object.
const (
	objUser     = "User"
	objExt      = "Ext"
	objMailbox  = "Mailbox"
	objEndpoint = "Endpoint"
	objContact  = "Contact"
)

// rowItems builds a row's transaction items with their conditions: the
// user's EXT# aggregate (user, extension, mailbox, endpoint, contact), its
// SECRET# item, and the DID and MAC items. Each part is one call below, so
// a further condition (another item, or a ConditionCheck) is one more
// b.put/b.check line.
func (s *Store) rowItems(tenant string, w RowWrite, opt WriteOptions, prev previousEndpoint) ([]txItem, error) {
	o := w.Objects
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.User.Tenant != tenant {
		return nil, pbx.Errorf(pbx.EINVALID, "tenant", "the row's objects belong to another tenant")
	}
	b := &itemBuilder{table: aws.String(s.Table), tenant: tenant}
	ext, sip := o.Ext.Number, o.Endpoint.SIPUser
	pk := TenantPK(tenant)
	if w.Update {
		b.updateExt(pk, ext, opt.Job, o)
	} else {
		if w.Credentials.SIPUser != sip || w.Credentials.SIPSecret.IsZero() || w.Credentials.PIN.IsZero() {
			return nil, pbx.Errorf(pbx.CodeInternal, "", "the row's credentials are missing")
		}
		b.putNew(roleExt, pk, ExtensionSK(ext), extItem(w, opt), true)
		secret, err := credentialsItem(tenant, w.Credentials)
		if err != nil {
			return nil, err
		}
		secret["Job"] = &types.AttributeValueMemberS{Value: opt.Job}
		delete(secret, attrInviteExpires)
		if o.User.InviteHash != "" {
			// The INVITE# item is written by the welcome email that delivers
			// the token (PutInvites), not here: welcome=none needs none until
			// then, and it takes a 1-WCU batch write there instead of a
			// 2-WCU transactional one here. Its expiry waits on the SECRET item.
			secret[attrInviteExpires] = &types.AttributeValueMemberN{Value: strconv.FormatInt(o.User.InviteExpires.Unix(), 10)}
		}
		b.putNew(roleSecret, pk, SecretSK(sip), secret, false)
	}
	if o.DID != nil && (!w.Update || o.DID.Number != prev.DID) {
		b.didRoute(ext, o.DID.Number, w.CreateDIDs, prev.DID)
	}
	if d := o.Endpoint.Device; d != nil && (!w.Update || d.MAC != prev.MAC) {
		b.macOwner(sip, d.MAC, prev.MAC)
	}
	return b.items, nil
}

// extItem is a new user's EXT# aggregate. Values the key or another group
// already says (tenant, extension, SIP user) are not repeated in each
// group; ExtObjects rebuilds the pbx objects from it.
func extItem(w RowWrite, opt WriteOptions) map[string]types.AttributeValue {
	o := w.Objects
	u := o.User
	user := attrs("Name", u.Name, "FirstName", u.FirstName, "LastName", u.LastName, "Email", u.Email,
		"Department", u.Department, "WelcomeMode", string(u.WelcomeMode), "PasswordHash", u.PasswordHash, "InviteHash", u.InviteHash)
	if u.MustChangePassword {
		user["MustChangePassword"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	if !u.InviteExpires.IsZero() {
		user["InviteExpires"] = &types.AttributeValueMemberS{Value: u.InviteExpires.UTC().Format(time.RFC3339)}
	}
	endpoint := attrs("SIPUser", o.Endpoint.SIPUser, "CallerIDName", o.Endpoint.CallerIDName, "CallerIDNum", o.Endpoint.CallerIDNum)
	if d := o.Endpoint.Device; d != nil {
		endpoint["MAC"] = &types.AttributeValueMemberS{Value: d.MAC}
		endpoint["Model"] = &types.AttributeValueMemberS{Value: d.Model}
	}
	if o.DID != nil {
		endpoint["DID"] = &types.AttributeValueMemberS{Value: o.DID.Number}
	}
	item := attrs("Type", "EXT", "Number", o.Ext.Number, "Job", opt.Job)
	if !opt.CreatedAt.IsZero() {
		item["CreatedAt"] = &types.AttributeValueMemberS{Value: opt.CreatedAt.UTC().Format(time.RFC3339)}
	}
	item["Line"] = &types.AttributeValueMemberN{Value: strconv.Itoa(w.Line)}
	item[objUser] = &types.AttributeValueMemberM{Value: user}
	item[objExt] = &types.AttributeValueMemberM{Value: attrs("CallScript", o.Ext.CallScript)}
	item[objMailbox] = &types.AttributeValueMemberM{Value: attrs("Owner", o.Mailbox.Owner, "Email", o.Mailbox.Email, "Pager", o.Mailbox.Pager)}
	item[objEndpoint] = &types.AttributeValueMemberM{Value: endpoint}
	item[objContact] = &types.AttributeValueMemberM{Value: attrs("FirstName", o.Contact.FirstName, "LastName", o.Contact.LastName,
		"Email", o.Contact.Email, "Department", o.Contact.Department)}
	return item
}

// updateExt updates an existing user's EXT# item in place (on-existing
// update): the row's non-empty fields, group by group, and UpdatedBy.
func (b *itemBuilder) updateExt(pk, ext, job string, o pbx.RowObjects) {
	fields := []string{
		objUser, "FirstName", o.User.FirstName, objUser, "LastName", o.User.LastName,
		objUser, "Email", o.User.Email, objUser, "Department", o.User.Department,
		objMailbox, "Owner", o.Mailbox.Owner, objMailbox, "Email", o.Mailbox.Email, objMailbox, "Pager", o.Mailbox.Pager,
		objEndpoint, "CallerIDName", o.Endpoint.CallerIDName, objEndpoint, "CallerIDNum", o.Endpoint.CallerIDNum,
		objContact, "FirstName", o.Contact.FirstName, objContact, "LastName", o.Contact.LastName,
		objContact, "Email", o.Contact.Email, objContact, "Department", o.Contact.Department,
	}
	if d := o.Endpoint.Device; d != nil {
		fields = append(fields, objEndpoint, "MAC", d.MAC, objEndpoint, "Model", d.Model)
	}
	if o.DID != nil {
		fields = append(fields, objEndpoint, "DID", o.DID.Number)
	}
	names := map[string]string{"#pk": AttrPK, "#by": "UpdatedBy"}
	values := map[string]types.AttributeValue{":by": &types.AttributeValueMemberS{Value: job}}
	expr := "SET #by = :by"
	for i := 0; i+2 < len(fields); i += 3 {
		if fields[i+2] == "" { // an empty cell does not erase a field
			continue
		}
		g, n, v := "#"+fields[i], "#f"+strconv.Itoa(i/3), ":v"+strconv.Itoa(i/3)
		names[g], names[n] = fields[i], fields[i+1]
		values[v] = &types.AttributeValueMemberS{Value: fields[i+2]}
		expr += ", " + g + "." + n + " = " + v
	}
	b.add(roleExt, pk, ExtensionSK(ext), types.TransactWriteItem{Update: &types.Update{
		TableName: b.table, Key: itemKey(pk, ExtensionSK(ext)), UpdateExpression: aws.String(expr),
		ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}})
}

// didRoute points the DID's global owner item (DID#<number>, OWNER) at ext:
// the one item holds who owns the DID (Tenant) and where its inbound route
// rings (Extension). With createDIDs a free number of the operator's
// inventory (inventory.go) is claimed for the tenant; without, it must
// already be the tenant's. Its route must be free
// or already ext's. prevDID's route is released in the same transaction
// when an update moves it (the DID stays the tenant's).
func (b *itemBuilder) didRoute(ext, did string, createDIDs bool, prevDID string) {
	names := map[string]string{"#type": "Type", "#num": "Number", "#tenant": attrOwnerTenant, "#ext": attrRouteExtension}
	owned := "#tenant = :tenant"
	if createDIDs {
		owned, names["#pk"] = "attribute_exists(#pk) AND (attribute_not_exists(#tenant) OR #tenant = :tenant)", AttrPK
	}
	b.add(roleDID, DIDOwnerPK(did), SKOwner, types.TransactWriteItem{Update: &types.Update{
		TableName: b.table, Key: itemKey(DIDOwnerPK(did), SKOwner),
		UpdateExpression:         aws.String("SET #type = :type, #num = :num, #tenant = :tenant, #ext = :ext"),
		ConditionExpression:      aws.String(owned + " AND (attribute_not_exists(#ext) OR #ext = :ext)"),
		ExpressionAttributeNames: names,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":type":   &types.AttributeValueMemberS{Value: "DID_OWNER"},
			":num":    &types.AttributeValueMemberS{Value: did},
			":tenant": &types.AttributeValueMemberS{Value: b.tenant},
			":ext":    &types.AttributeValueMemberS{Value: ext},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}})
	if prevDID != "" {
		b.add(roleOldRoute, DIDOwnerPK(prevDID), SKOwner, types.TransactWriteItem{Update: &types.Update{
			TableName: b.table, Key: itemKey(DIDOwnerPK(prevDID), SKOwner),
			UpdateExpression:         aws.String("REMOVE #ext"),
			ConditionExpression:      aws.String("#tenant = :tenant AND #ext = :ext"),
			ExpressionAttributeNames: map[string]string{"#tenant": attrOwnerTenant, "#ext": attrRouteExtension},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":tenant": &types.AttributeValueMemberS{Value: b.tenant},
				":ext":    &types.AttributeValueMemberS{Value: ext},
			},
		}})
	}
}

// macOwner binds mac to the endpoint sip (global MAC owner item),
// releasing prevMAC in the same transaction when an update moves it.
func (b *itemBuilder) macOwner(sip, mac, prevMAC string) {
	mine := "attribute_not_exists(#pk) OR (#tenant = :tenant AND #ep = :ep)"
	names := map[string]string{"#pk": AttrPK, "#tenant": "Tenant", "#ep": "Endpoint"}
	values := map[string]types.AttributeValue{
		":tenant": &types.AttributeValueMemberS{Value: b.tenant},
		":ep":     &types.AttributeValueMemberS{Value: sip},
	}
	b.put(roleMACOwner, MACOwnerPK(mac), SKOwner, attrs("Type", "MAC_OWNER", "Tenant", b.tenant, "Endpoint", sip, "MAC", mac),
		mine, names, values)
	if prevMAC != "" {
		b.del(roleOldMAC, MACOwnerPK(prevMAC), SKOwner, mine, names, values)
	}
}

// itemBuilder collects a row's transaction items.
type itemBuilder struct {
	table  *string
	tenant string
	items  []txItem
}

func (b *itemBuilder) add(r role, pk, sk string, it types.TransactWriteItem) {
	b.items = append(b.items, txItem{role: r, key: pk + "|" + sk, item: it})
}

// putNew puts an item that must not exist yet.
func (b *itemBuilder) putNew(r role, pk, sk string, item map[string]types.AttributeValue, returnOld bool) {
	b.put(r, pk, sk, item, "attribute_not_exists(#pk)", map[string]string{"#pk": AttrPK}, nil)
	if returnOld {
		b.items[len(b.items)-1].item.Put.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}
}

func (b *itemBuilder) put(r role, pk, sk string, item map[string]types.AttributeValue, cond string, names map[string]string, values map[string]types.AttributeValue) {
	item[AttrPK] = &types.AttributeValueMemberS{Value: pk}
	item[AttrSK] = &types.AttributeValueMemberS{Value: sk}
	put := &types.Put{TableName: b.table, Item: item}
	if cond != "" {
		put.ConditionExpression, put.ExpressionAttributeNames, put.ExpressionAttributeValues = aws.String(cond), names, values
	}
	b.add(r, pk, sk, types.TransactWriteItem{Put: put})
}

func (b *itemBuilder) del(r role, pk, sk, cond string, names map[string]string, values map[string]types.AttributeValue) {
	b.add(r, pk, sk, types.TransactWriteItem{Delete: &types.Delete{
		TableName: b.table, Key: itemKey(pk, sk), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}})
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
