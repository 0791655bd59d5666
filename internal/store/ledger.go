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

// The email ledger: one item per user and purpose (PK TENANT#t, SK
// EMAIL#<user>#<purpose>) that makes an email go out at most once.
//
//	(none) ──reserve──▶ RESERVED ──SES accepted──▶ SENT (MessageId)
//	                       │  └──SES refused, or not sent──▶ FAILED ──reserve──▶ RESERVED …
//	                       └──crash / unknown outcome: stays RESERVED ("uncertain"):
//	                          only an explicit take-over (resend-uncertain) reserves it again
//
// A reservation is a conditional Put: it succeeds on no item, on a FAILED
// item, or on a RESERVED item of the same attempt (so a retried request is
// harmless). SENT is final.
const (
	LedgerReserved = "RESERVED"
	LedgerSent     = "SENT"
	LedgerFailed   = "FAILED"
)

// Ledger item attributes.
const (
	attrLedgerUser    = "User"
	attrLedgerPurpose = "Purpose"
	attrLedgerStatus  = "Status"
	attrLedgerJob     = "Job"
	attrLedgerLine    = "Line"
	attrLedgerAttempt = "Attempt"
	attrLedgerAt      = "AttemptAt"
	attrLedgerMsgID   = "MessageId"
	attrLedgerDoneAt  = "DoneAt"
	attrLedgerCode    = "Code"
	attrLedgerMessage = "Message"

	maxTransactItems = 100 // TransactWriteItems' limit
	ledgerTries      = 8
	ledgerPause      = 50 * time.Millisecond
	ledgerMaxPause   = 2 * time.Second
)

// LedgerEntry is one email ledger item.
type LedgerEntry struct {
	User      string
	Purpose   string
	Status    string // LedgerReserved | LedgerSent | LedgerFailed
	Job       string // the job whose attempt wrote the item
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
	User    string
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
	Existing LedgerEntry // otherwise, the entry that stood in the way
}

// ReserveEmails reserves the given emails with conditional writes, up to
// 100 per TransactWriteItems. A reservation that meets a SENT entry, or a
// RESERVED one of another attempt (without TakeOver), is not an error: its
// result carries the existing entry. One call per 100 emails unless some
// conditions fail (then one more for the rest).
func (s *Store) ReserveEmails(ctx context.Context, tenant string, rs []EmailReservation) ([]ReserveResult, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	if err := checkUniqueLedgerKeys(len(rs), func(i int) string { return rs[i].User + "#" + rs[i].Purpose }); err != nil {
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
			items[j] = types.TransactWriteItem{Put: s.reservePut(tenant, rs[i])}
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
					unread = append(unread, i)
					continue
				}
				results[i] = ReserveResult{Existing: ledgerEntryFromItem(reason.Item)}
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
			keys[j] = itemKey(TenantPK(tenant), EmailSK(rs[i].User, rs[i].Purpose))
		}
		items, err := s.batchGet(ctx, keys)
		if err != nil {
			return fmt.Errorf("read email ledger of tenant %s: %w", tenant, err)
		}
		bySK := make(map[string]LedgerEntry, len(items))
		for _, item := range items {
			bySK[stringAttr(item, AttrSK)] = ledgerEntryFromItem(item)
		}
		for _, i := range unread {
			results[i] = ReserveResult{Existing: bySK[EmailSK(rs[i].User, rs[i].Purpose)]}
		}
	}
	return nil
}

func (s *Store) reservePut(tenant string, r EmailReservation) *types.Put {
	cond := "attribute_not_exists(#pk) OR #status = :failed OR (#status = :reserved AND #attempt = :attempt)"
	names := map[string]string{"#pk": AttrPK, "#status": attrLedgerStatus, "#attempt": attrLedgerAttempt}
	values := map[string]types.AttributeValue{
		":failed":   &types.AttributeValueMemberS{Value: LedgerFailed},
		":reserved": &types.AttributeValueMemberS{Value: LedgerReserved},
		":attempt":  &types.AttributeValueMemberS{Value: r.Attempt},
	}
	if r.TakeOver {
		// DynamoDB rejects names and values an expression does not use.
		cond = "attribute_not_exists(#pk) OR #status = :failed OR #status = :reserved"
		delete(names, "#attempt")
		delete(values, ":attempt")
	}
	return &types.Put{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			AttrPK:            &types.AttributeValueMemberS{Value: TenantPK(tenant)},
			AttrSK:            &types.AttributeValueMemberS{Value: EmailSK(r.User, r.Purpose)},
			attrLedgerUser:    &types.AttributeValueMemberS{Value: r.User},
			attrLedgerPurpose: &types.AttributeValueMemberS{Value: r.Purpose},
			attrLedgerStatus:  &types.AttributeValueMemberS{Value: LedgerReserved},
			attrLedgerJob:     &types.AttributeValueMemberS{Value: r.Job},
			attrLedgerLine:    &types.AttributeValueMemberN{Value: strconv.Itoa(r.Line)},
			attrLedgerAttempt: &types.AttributeValueMemberS{Value: r.Attempt},
			attrLedgerAt:      &types.AttributeValueMemberS{Value: r.At.UTC().Format(time.RFC3339Nano)},
		},
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// EmailOutcome closes one reservation.
type EmailOutcome struct {
	User    string
	Purpose string
	Attempt string // the reservation's attempt; another attempt's entry is left alone
	Sent    bool
	// MessageID is SES's id when Sent.
	MessageID string
	// Code and Message say why it was not sent (FAILED: a later attempt may
	// reserve it again).
	Code    string
	Message string
	At      time.Time
	// DropPortalOf, when Sent, is the SIP user whose sealed portal
	// credential is removed in the same transaction (DropPortalCredential).
	DropPortalOf string
}

// FinishEmails marks reservations SENT (and drops the sent portal
// credentials) or FAILED, up to 100 items per TransactWriteItems: one call
// for a batch of up to 50 sent emails. An entry that is no longer this
// attempt's reservation, or a credentials item that is gone, is skipped.
func (s *Store) FinishEmails(ctx context.Context, tenant string, outcomes []EmailOutcome) error {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return err
	}
	if err := checkUniqueLedgerKeys(len(outcomes), func(i int) string { return outcomes[i].User + "#" + outcomes[i].Purpose }); err != nil {
		return err
	}
	var chunk []types.TransactWriteItem
	for _, o := range outcomes {
		items := s.finishItems(tenant, o)
		if len(chunk)+len(items) > maxTransactItems {
			if err := s.transactSkippingFailedConditions(ctx, chunk); err != nil {
				return fmt.Errorf("finish emails of tenant %s: %w", tenant, err)
			}
			chunk = nil
		}
		chunk = append(chunk, items...)
	}
	if len(chunk) > 0 {
		if err := s.transactSkippingFailedConditions(ctx, chunk); err != nil {
			return fmt.Errorf("finish emails of tenant %s: %w", tenant, err)
		}
	}
	return nil
}

func (s *Store) finishItems(tenant string, o EmailOutcome) []types.TransactWriteItem {
	values := map[string]types.AttributeValue{
		":reserved": &types.AttributeValueMemberS{Value: LedgerReserved},
		":attempt":  &types.AttributeValueMemberS{Value: o.Attempt},
		":at":       &types.AttributeValueMemberS{Value: o.At.UTC().Format(time.RFC3339Nano)},
	}
	names := map[string]string{"#status": attrLedgerStatus, "#attempt": attrLedgerAttempt, "#at": attrLedgerDoneAt}
	var update string
	if o.Sent {
		update = "SET #status = :sent, #msg = :msg, #at = :at REMOVE #code, #message"
		values[":sent"] = &types.AttributeValueMemberS{Value: LedgerSent}
		values[":msg"] = &types.AttributeValueMemberS{Value: o.MessageID}
		names["#msg"], names["#code"], names["#message"] = attrLedgerMsgID, attrLedgerCode, attrLedgerMessage
	} else {
		update = "SET #status = :failed, #code = :code, #message = :message, #at = :at"
		values[":failed"] = &types.AttributeValueMemberS{Value: LedgerFailed}
		values[":code"] = &types.AttributeValueMemberS{Value: o.Code}
		values[":message"] = &types.AttributeValueMemberS{Value: o.Message}
		names["#code"], names["#message"] = attrLedgerCode, attrLedgerMessage
	}
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName:                 aws.String(s.Table),
		Key:                       itemKey(TenantPK(tenant), EmailSK(o.User, o.Purpose)),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("#status = :reserved AND #attempt = :attempt"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}}
	if o.Sent && o.DropPortalOf != "" {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                aws.String(s.Table),
			Key:                      itemKey(TenantPK(tenant), SecretSK(o.DropPortalOf)),
			UpdateExpression:         aws.String("REMOVE #portal"),
			ConditionExpression:      aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#portal": attrPortal, "#pk": AttrPK},
		}})
	}
	return items
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

// GetEmailLedger returns the ledger entries of users for purpose, keyed by
// user; users without an entry are absent.
func (s *Store) GetEmailLedger(ctx context.Context, tenant, purpose string, users []string) (map[string]LedgerEntry, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(users))
	var keys []map[string]types.AttributeValue
	for _, u := range users {
		if u != "" && !seen[u] {
			seen[u] = true
			keys = append(keys, itemKey(TenantPK(tenant), EmailSK(u, purpose)))
		}
	}
	out := make(map[string]LedgerEntry, len(keys))
	for start := 0; start < len(keys); start += batchGetMax {
		items, err := s.batchGet(ctx, keys[start:min(start+batchGetMax, len(keys))])
		if err != nil {
			return nil, fmt.Errorf("read email ledger of tenant %s: %w", tenant, err)
		}
		for _, item := range items {
			e := ledgerEntryFromItem(item)
			out[e.User] = e
		}
	}
	return out, nil
}

func ledgerEntryFromItem(item map[string]types.AttributeValue) LedgerEntry {
	e := LedgerEntry{
		User:      stringAttr(item, attrLedgerUser),
		Purpose:   stringAttr(item, attrLedgerPurpose),
		Status:    stringAttr(item, attrLedgerStatus),
		Job:       stringAttr(item, attrLedgerJob),
		Attempt:   stringAttr(item, attrLedgerAttempt),
		MessageID: stringAttr(item, attrLedgerMsgID),
		Code:      stringAttr(item, attrLedgerCode),
		Message:   stringAttr(item, attrLedgerMessage),
	}
	if n, ok := item[attrLedgerLine].(*types.AttributeValueMemberN); ok {
		e.Line, _ = strconv.Atoi(n.Value)
	}
	e.AttemptAt, _ = time.Parse(time.RFC3339Nano, stringAttr(item, attrLedgerAt))
	e.DoneAt, _ = time.Parse(time.RFC3339Nano, stringAttr(item, attrLedgerDoneAt))
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
