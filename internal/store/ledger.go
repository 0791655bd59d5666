package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// The email ledger makes an email go out at most once. It lives on the
// endpoint's SECRET# item (PK TENANT#t, SK SECRET#<sip user>), in
// attributes named "<purpose>.<field>", not in an item of its own: the
// SECRET item holds the portal credential the email delivers and drops it
// at SENT anyway, so reserving and closing an email each write one item
// per user (2 WCU per transactional update instead of 2 + 4 with a
// separate EMAIL# item).
//
//	(none) ──reserve──▶ RESERVED ──SES accepted──▶ SENT (MessageId; portal credential removed)
//	                       │  └──SES refused, or not sent──▶ FAILED ──reserve──▶ RESERVED …
//	                       └──crash / unknown outcome: stays RESERVED ("uncertain"):
//	                          only an explicit take-over (resend-uncertain) reserves it again
//
// A reservation is a conditional Update of an existing SECRET item: it
// succeeds when the purpose has no ledger state, a FAILED one, or a
// RESERVED one of the same attempt (so a retried request is harmless). SENT
// is final. A user without a SECRET item cannot be reserved (there is no
// credential to send): its result has an empty Existing.Status.
const (
	LedgerReserved = "RESERVED"
	LedgerSent     = "SENT"
	LedgerFailed   = "FAILED"
)

// Ledger fields; the attribute name is ledgerAttr(purpose, field).
const (
	ledgerUser    = "User"
	ledgerStatus  = "Status"
	ledgerJob     = "Job"
	ledgerLine    = "Line"
	ledgerAttempt = "Attempt"
	ledgerAt      = "At"
	ledgerMsgID   = "MessageId"
	ledgerDoneAt  = "DoneAt"
	ledgerCode    = "Code"
	ledgerMessage = "Message"

	maxTransactItems = 100 // TransactWriteItems' limit
	ledgerTries      = 8
	ledgerPause      = 50 * time.Millisecond
	ledgerMaxPause   = 2 * time.Second
)

// ledgerAttr names one ledger field of purpose on the SECRET item.
func ledgerAttr(purpose, field string) string { return purpose + "." + field }

// LedgerEntry is one email's ledger state.
type LedgerEntry struct {
	User      string
	SIPUser   string // the endpoint whose SECRET item holds the entry
	Purpose   string
	Status    string // LedgerReserved | LedgerSent | LedgerFailed; "" when none (or no SECRET item)
	Job       string // the job whose attempt wrote the entry
	Line      int
	Attempt   string // opaque id of the reserving attempt
	AttemptAt time.Time
	MessageID string    // SES MessageId, when SENT
	DoneAt    time.Time // when SENT or FAILED
	Code      string    // when FAILED
	Message   string    // when FAILED
}

// EmailReservation asks to reserve one user's email for an attempt.
type EmailReservation struct {
	User    string // portal user name, recorded in the entry
	SIPUser string // the user's endpoint: its SECRET item holds the entry
	Purpose string
	Job     string
	Line    int
	Attempt string
	At      time.Time
	// TakeOver also reserves an entry left RESERVED by another attempt (an
	// outcome nobody knows): the operator's explicit resend of uncertain
	// emails.
	TakeOver bool
}

// ReserveResult is the outcome of one reservation.
type ReserveResult struct {
	Reserved bool        // the attempt holds the reservation: send
	Existing LedgerEntry // otherwise, the entry that stood in the way (Status "": no SECRET item)
}

// ReserveEmails reserves the given emails with conditional updates, up to
// 100 per TransactWriteItems. A reservation that meets a SENT entry, or a
// RESERVED one of another attempt (without TakeOver), is not an error: its
// result carries the existing entry. One call per 100 emails unless some
// conditions fail (then one more for the rest).
func (s *Store) ReserveEmails(ctx context.Context, tenant string, rs []EmailReservation) ([]ReserveResult, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.SIPUser == "" || r.Purpose == "" {
			return nil, pbx.Errorf(pbx.EINVALID, "sip_user", "email reservation of %q names no endpoint or purpose", r.User)
		}
	}
	if err := checkUniqueLedgerKeys(len(rs), func(i int) string { return rs[i].SIPUser + "#" + rs[i].Purpose }); err != nil {
		return nil, err
	}
	results := make([]ReserveResult, len(rs))
	for start := 0; start < len(rs); start += maxTransactItems {
		end := min(start+maxTransactItems, len(rs))
		if err := s.reserveChunk(ctx, tenant, rs[start:end], results[start:end]); err != nil {
			return nil, err
		}
	}
	return results, nil
}

func (s *Store) reserveChunk(ctx context.Context, tenant string, rs []EmailReservation, results []ReserveResult) error {
	pending := make([]int, len(rs))
	for i := range rs {
		pending[i] = i
	}
	var unread []int // condition failed but the reason carried no item
	pause := ledgerPause
	for try := 1; len(pending) > 0; try++ {
		items := make([]types.TransactWriteItem, len(pending))
		for j, i := range pending {
			items[j] = types.TransactWriteItem{Update: s.reserveUpdate(tenant, rs[i])}
		}
		_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems:          items,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err == nil {
			for _, i := range pending {
				results[i] = ReserveResult{Reserved: true}
			}
			pending = nil
			break
		}
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) || len(canceled.CancellationReasons) != len(pending) {
			return fmt.Errorf("reserve %d emails of tenant %s: %w", len(pending), tenant, err)
		}
		var retry []int
		for j, reason := range canceled.CancellationReasons {
			i := pending[j]
			switch aws.ToString(reason.Code) {
			case "ConditionalCheckFailed":
				if reason.Item == nil {
					unread = append(unread, i) // no SECRET item, or the reason was not returned
					continue
				}
				results[i] = ReserveResult{Existing: ledgerEntryFromItem(reason.Item, rs[i].Purpose)}
			case "", "None":
				retry = append(retry, i)
			default: // TransactionConflict, ThrottlingError, ...: back off
				retry = append(retry, i)
			}
		}
		pending = retry
		if len(pending) == 0 {
			break
		}
		if try == ledgerTries {
			return fmt.Errorf("reserve emails of tenant %s: %d still contended after %d attempts", tenant, len(pending), try)
		}
		if err := ledgerSleep(ctx, pause); err != nil {
			return err
		}
		pause = min(2*pause, ledgerMaxPause)
	}
	if len(unread) > 0 {
		keys := make([]map[string]types.AttributeValue, len(unread))
		for j, i := range unread {
			keys[j] = itemKey(TenantPK(tenant), SecretSK(rs[i].SIPUser))
		}
		items, err := s.batchGet(ctx, keys)
		if err != nil {
			return fmt.Errorf("read email ledger of tenant %s: %w", tenant, err)
		}
		bySK := make(map[string]map[string]types.AttributeValue, len(items))
		for _, item := range items {
			bySK[stringAttr(item, AttrSK)] = item
		}
		for _, i := range unread {
			e := LedgerEntry{User: rs[i].User, SIPUser: rs[i].SIPUser, Purpose: rs[i].Purpose}
			if item, ok := bySK[SecretSK(rs[i].SIPUser)]; ok {
				e = ledgerEntryFromItem(item, rs[i].Purpose)
			}
			results[i] = ReserveResult{Existing: e}
		}
	}
	return nil
}

func (s *Store) reserveUpdate(tenant string, r EmailReservation) *types.Update {
	names := map[string]string{
		"#pk": AttrPK, "#status": ledgerAttr(r.Purpose, ledgerStatus), "#attempt": ledgerAttr(r.Purpose, ledgerAttempt),
		"#user": ledgerAttr(r.Purpose, ledgerUser), "#job": ledgerAttr(r.Purpose, ledgerJob),
		"#line": ledgerAttr(r.Purpose, ledgerLine), "#at": ledgerAttr(r.Purpose, ledgerAt),
		"#msg": ledgerAttr(r.Purpose, ledgerMsgID), "#done": ledgerAttr(r.Purpose, ledgerDoneAt),
		"#code": ledgerAttr(r.Purpose, ledgerCode), "#message": ledgerAttr(r.Purpose, ledgerMessage),
	}
	values := map[string]types.AttributeValue{
		":failed":   &types.AttributeValueMemberS{Value: LedgerFailed},
		":reserved": &types.AttributeValueMemberS{Value: LedgerReserved},
		":attempt":  &types.AttributeValueMemberS{Value: r.Attempt},
		":user":     &types.AttributeValueMemberS{Value: r.User},
		":job":      &types.AttributeValueMemberS{Value: r.Job},
		":line":     &types.AttributeValueMemberN{Value: strconv.Itoa(r.Line)},
		":at":       &types.AttributeValueMemberS{Value: r.At.UTC().Format(time.RFC3339Nano)},
	}
	// The item must exist: an Update would otherwise create a bare SECRET item.
	cond := "attribute_exists(#pk) AND (attribute_not_exists(#status) OR #status = :failed OR (#status = :reserved AND #attempt = :attempt))"
	if r.TakeOver {
		cond = "attribute_exists(#pk) AND (attribute_not_exists(#status) OR #status = :failed OR #status = :reserved)"
	}
	// A reservation replaces the whole entry, as a Put of its own item would.
	update := "SET #status = :reserved, #attempt = :attempt, #user = :user, #job = :job, #line = :line, #at = :at " +
		"REMOVE #msg, #done, #code, #message"
	return &types.Update{
		TableName:                           aws.String(s.Table),
		Key:                                 itemKey(TenantPK(tenant), SecretSK(r.SIPUser)),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// EmailOutcome closes one reservation.
type EmailOutcome struct {
	SIPUser string // the endpoint whose SECRET item holds the entry
	Purpose string
	Attempt string // the reservation's attempt; another attempt's entry is left alone
	// Sent records SENT and removes the sealed portal credential (invite
	// token or temporary password) it delivered, in the same write.
	Sent bool
	// MessageID is SES's id when Sent.
	MessageID string
	// Code and Message say why it was not sent (FAILED: a later attempt may
	// reserve it again).
	Code    string
	Message string
	At      time.Time
}

// FinishEmails marks reservations SENT (dropping the sent portal
// credentials) or FAILED, one item per email and up to 100 per
// TransactWriteItems. An entry that is no longer this attempt's
// reservation, or a SECRET item that is gone, is skipped.
func (s *Store) FinishEmails(ctx context.Context, tenant string, outcomes []EmailOutcome) error {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return err
	}
	if err := checkUniqueLedgerKeys(len(outcomes), func(i int) string { return outcomes[i].SIPUser + "#" + outcomes[i].Purpose }); err != nil {
		return err
	}
	for start := 0; start < len(outcomes); start += maxTransactItems {
		chunk := outcomes[start:min(start+maxTransactItems, len(outcomes))]
		items := make([]types.TransactWriteItem, len(chunk))
		for i, o := range chunk {
			items[i] = types.TransactWriteItem{Update: s.finishUpdate(tenant, o)}
		}
		if err := s.transactSkippingFailedConditions(ctx, items); err != nil {
			return fmt.Errorf("finish emails of tenant %s: %w", tenant, err)
		}
	}
	return nil
}

func (s *Store) finishUpdate(tenant string, o EmailOutcome) *types.Update {
	values := map[string]types.AttributeValue{
		":reserved": &types.AttributeValueMemberS{Value: LedgerReserved},
		":attempt":  &types.AttributeValueMemberS{Value: o.Attempt},
		":at":       &types.AttributeValueMemberS{Value: o.At.UTC().Format(time.RFC3339Nano)},
	}
	names := map[string]string{
		"#status": ledgerAttr(o.Purpose, ledgerStatus), "#attempt": ledgerAttr(o.Purpose, ledgerAttempt),
		"#at": ledgerAttr(o.Purpose, ledgerDoneAt), "#code": ledgerAttr(o.Purpose, ledgerCode),
		"#message": ledgerAttr(o.Purpose, ledgerMessage),
	}
	var update string
	if o.Sent {
		update = "SET #status = :sent, #msg = :msg, #at = :at REMOVE #code, #message, #portal"
		values[":sent"] = &types.AttributeValueMemberS{Value: LedgerSent}
		values[":msg"] = &types.AttributeValueMemberS{Value: o.MessageID}
		names["#msg"], names["#portal"] = ledgerAttr(o.Purpose, ledgerMsgID), attrPortal
	} else {
		update = "SET #status = :failed, #code = :code, #message = :message, #at = :at"
		values[":failed"] = &types.AttributeValueMemberS{Value: LedgerFailed}
		values[":code"] = &types.AttributeValueMemberS{Value: o.Code}
		values[":message"] = &types.AttributeValueMemberS{Value: o.Message}
	}
	return &types.Update{
		TableName:                 aws.String(s.Table),
		Key:                       itemKey(TenantPK(tenant), SecretSK(o.SIPUser)),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("#status = :reserved AND #attempt = :attempt"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// transactSkippingFailedConditions writes items in one transaction; items
// whose condition fails are dropped and the rest written again, contention
// is retried with backoff.
func (s *Store) transactSkippingFailedConditions(ctx context.Context, items []types.TransactWriteItem) error {
	pause := ledgerPause
	for try := 1; len(items) > 0; try++ {
		_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems:          items,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err == nil {
			return nil
		}
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) || len(canceled.CancellationReasons) != len(items) {
			return err
		}
		kept := items[:0:0]
		contended := false
		for j, reason := range canceled.CancellationReasons {
			switch aws.ToString(reason.Code) {
			case "ConditionalCheckFailed":
			case "", "None":
				kept = append(kept, items[j])
			default:
				contended = true
				kept = append(kept, items[j])
			}
		}
		items = kept
		if contended {
			if try == ledgerTries {
				return fmt.Errorf("%d items still contended after %d attempts: %w", len(items), try, err)
			}
			if err := ledgerSleep(ctx, pause); err != nil {
				return err
			}
			pause = min(2*pause, ledgerMaxPause)
		}
	}
	return nil
}

// GetEmailLedger returns the ledger entries for purpose of the given
// endpoints (SIP users), keyed by SIP user; endpoints without an entry (or
// without a SECRET item) are absent. It reads the SECRET items consistently.
func (s *Store) GetEmailLedger(ctx context.Context, tenant, purpose string, sipUsers []string) (map[string]LedgerEntry, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(sipUsers))
	var keys []map[string]types.AttributeValue
	for _, u := range sipUsers {
		if u != "" && !seen[u] {
			seen[u] = true
			keys = append(keys, itemKey(TenantPK(tenant), SecretSK(u)))
		}
	}
	out := make(map[string]LedgerEntry, len(keys))
	for start := 0; start < len(keys); start += batchGetMax {
		items, err := s.batchGet(ctx, keys[start:min(start+batchGetMax, len(keys))])
		if err != nil {
			return nil, fmt.Errorf("read email ledger of tenant %s: %w", tenant, err)
		}
		for _, item := range items {
			if e := ledgerEntryFromItem(item, purpose); e.Status != "" {
				out[e.SIPUser] = e
			}
		}
	}
	return out, nil
}

// ledgerEntryFromItem reads purpose's entry from a SECRET item.
func ledgerEntryFromItem(item map[string]types.AttributeValue, purpose string) LedgerEntry {
	field := func(name string) string { return stringAttr(item, ledgerAttr(purpose, name)) }
	e := LedgerEntry{
		User:      field(ledgerUser),
		SIPUser:   stringAttr(item, "SIPUser"),
		Purpose:   purpose,
		Status:    field(ledgerStatus),
		Job:       field(ledgerJob),
		Attempt:   field(ledgerAttempt),
		MessageID: field(ledgerMsgID),
		Code:      field(ledgerCode),
		Message:   field(ledgerMessage),
	}
	if n, ok := item[ledgerAttr(purpose, ledgerLine)].(*types.AttributeValueMemberN); ok {
		e.Line, _ = strconv.Atoi(n.Value)
	}
	e.AttemptAt, _ = time.Parse(time.RFC3339Nano, field(ledgerAt))
	e.DoneAt, _ = time.Parse(time.RFC3339Nano, field(ledgerDoneAt))
	return e
}

// checkUniqueLedgerKeys rejects a request naming one ledger item twice,
// which a transaction cannot hold.
func checkUniqueLedgerKeys(n int, key func(int) string) error {
	seen := make(map[string]bool, n)
	for i := range n {
		k := key(i)
		if seen[k] {
			return pbx.Errorf(pbx.EINVALID, "user", "email %s appears twice in one request", k)
		}
		seen[k] = true
	}
	return nil
}

func ledgerSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
