package store

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
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
// A reservation is a conditional update of an existing SECRET item (a
// PartiQL UPDATE in a BatchExecuteStatement of up to 25: 1 write unit, not a
// transaction's 2, and one call per chunk of the welcome step): it
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

	maxBatchStatements = 25 // BatchExecuteStatement's limit
	ledgerTries        = 8
	ledgerPause        = 50 * time.Millisecond
	ledgerMaxPause     = 2 * time.Second
)

// ledgerPurposeRE: a purpose is part of attribute names, quoted in PartiQL.
var ledgerPurposeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

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
// 25 per BatchExecuteStatement (PartiQL UPDATE … WHERE <condition>). Each
// statement is an ordinary single-item conditional write, 1 write unit
// instead of a transaction's 2: no two reservations need to succeed
// together, each one's condition alone keeps its email at most once. A
// reservation that meets a SENT entry, or a RESERVED one of another attempt
// (without TakeOver), is not an error: its result carries the existing
// entry. One call per 25 emails unless some conditions fail (then one
// BatchGetItem to read what stood in the way).
func (s *Store) ReserveEmails(ctx context.Context, tenant string, rs []EmailReservation) ([]ReserveResult, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.SIPUser == "" || !ledgerPurposeRE.MatchString(r.Purpose) {
			return nil, pbx.Errorf(pbx.EINVALID, "sip_user", "email reservation of %q names no endpoint or no valid purpose", r.User)
		}
	}
	if err := checkUniqueLedgerKeys(len(rs), func(i int) string { return rs[i].SIPUser + "#" + rs[i].Purpose }); err != nil {
		return nil, err
	}
	results := make([]ReserveResult, len(rs))
	for start := 0; start < len(rs); start += maxBatchStatements {
		end := min(start+maxBatchStatements, len(rs))
		if err := s.reserveChunk(ctx, tenant, rs[start:end], results[start:end]); err != nil {
			return nil, err
		}
	}
	return results, nil
}

func (s *Store) reserveChunk(ctx context.Context, tenant string, rs []EmailReservation, results []ReserveResult) error {
	stmts := make([]types.BatchStatementRequest, len(rs))
	for i, r := range rs {
		stmts[i] = s.reserveStatement(tenant, r)
	}
	failed, err := s.executeStatements(ctx, stmts)
	if err != nil {
		return fmt.Errorf("reserve %d emails of tenant %s: %w", len(rs), tenant, err)
	}
	var unread []int // condition failed and the reason carried no item
	for i := range rs {
		switch old, ok := failed[i]; {
		case !ok:
			results[i] = ReserveResult{Reserved: true}
		case old != nil:
			results[i] = ReserveResult{Existing: ledgerEntryFromItem(old, rs[i].Purpose)}
		default:
			unread = append(unread, i)
		}
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

// reserveStatement is one reservation as a PartiQL UPDATE. An UPDATE only
// changes an existing item (its WHERE names the full key), so a missing
// SECRET item fails the condition instead of being created bare.
func (s *Store) reserveStatement(tenant string, r EmailReservation) types.BatchStatementRequest {
	a := func(field string) string { return `"` + ledgerAttr(r.Purpose, field) + `"` }
	cond := a(ledgerStatus) + " IS MISSING OR " + a(ledgerStatus) + " = ? OR (" + a(ledgerStatus) + " = ? AND " + a(ledgerAttempt) + " = ?)"
	params := []types.AttributeValue{str(LedgerFailed), str(LedgerReserved), str(r.Attempt)}
	if r.TakeOver {
		cond = a(ledgerStatus) + " IS MISSING OR " + a(ledgerStatus) + " = ? OR " + a(ledgerStatus) + " = ?"
		params = params[:2]
	}
	// A reservation replaces the whole entry, as a Put of its own item would.
	stmt := "UPDATE " + s.quotedTable() +
		" SET " + a(ledgerStatus) + " = ? SET " + a(ledgerAttempt) + " = ? SET " + a(ledgerUser) + " = ? SET " + a(ledgerJob) + " = ?" +
		" SET " + a(ledgerLine) + " = ? SET " + a(ledgerAt) + " = ?" +
		" REMOVE " + a(ledgerMsgID) + " REMOVE " + a(ledgerDoneAt) + " REMOVE " + a(ledgerCode) + " REMOVE " + a(ledgerMessage) +
		` WHERE "PK" = ? AND "SK" = ? AND (` + cond + ")"
	values := append([]types.AttributeValue{
		str(LedgerReserved), str(r.Attempt), str(r.User), str(r.Job),
		&types.AttributeValueMemberN{Value: strconv.Itoa(r.Line)}, str(r.At.UTC().Format(time.RFC3339Nano)),
		str(TenantPK(tenant)), str(SecretSK(r.SIPUser)),
	}, params...)
	return types.BatchStatementRequest{Statement: aws.String(stmt), Parameters: values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}
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
// credentials) or FAILED, one conditional single-item write per email (1
// write unit), up to 25 per BatchExecuteStatement. An entry that is no
// longer this attempt's reservation, or a SECRET item that is gone, is
// skipped.
func (s *Store) FinishEmails(ctx context.Context, tenant string, outcomes []EmailOutcome) error {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return err
	}
	for _, o := range outcomes {
		if o.SIPUser == "" || !ledgerPurposeRE.MatchString(o.Purpose) {
			return pbx.Errorf(pbx.EINVALID, "sip_user", "email outcome names no endpoint or no valid purpose")
		}
	}
	if err := checkUniqueLedgerKeys(len(outcomes), func(i int) string { return outcomes[i].SIPUser + "#" + outcomes[i].Purpose }); err != nil {
		return err
	}
	for start := 0; start < len(outcomes); start += maxBatchStatements {
		chunk := outcomes[start:min(start+maxBatchStatements, len(outcomes))]
		stmts := make([]types.BatchStatementRequest, len(chunk))
		for i, o := range chunk {
			stmts[i] = s.finishStatement(tenant, o)
		}
		// A failed condition: not this attempt's reservation any more; skip it.
		if _, err := s.executeStatements(ctx, stmts); err != nil {
			return fmt.Errorf("finish emails of tenant %s: %w", tenant, err)
		}
	}
	return nil
}

func (s *Store) finishStatement(tenant string, o EmailOutcome) types.BatchStatementRequest {
	a := func(field string) string { return `"` + ledgerAttr(o.Purpose, field) + `"` }
	var set string
	var values []types.AttributeValue
	if o.Sent {
		set = " SET " + a(ledgerStatus) + " = ? SET " + a(ledgerMsgID) + " = ? SET " + a(ledgerDoneAt) + " = ?" +
			" REMOVE " + a(ledgerCode) + " REMOVE " + a(ledgerMessage) + ` REMOVE "` + attrPortal + `"`
		values = []types.AttributeValue{str(LedgerSent), str(o.MessageID), str(o.At.UTC().Format(time.RFC3339Nano))}
	} else {
		set = " SET " + a(ledgerStatus) + " = ? SET " + a(ledgerCode) + " = ? SET " + a(ledgerMessage) + " = ? SET " + a(ledgerDoneAt) + " = ?"
		values = []types.AttributeValue{str(LedgerFailed), str(o.Code), str(o.Message), str(o.At.UTC().Format(time.RFC3339Nano))}
	}
	stmt := "UPDATE " + s.quotedTable() + set +
		` WHERE "PK" = ? AND "SK" = ? AND ` + a(ledgerStatus) + " = ? AND " + a(ledgerAttempt) + " = ?"
	values = append(values, str(TenantPK(tenant)), str(SecretSK(o.SIPUser)), str(LedgerReserved), str(o.Attempt))
	return types.BatchStatementRequest{Statement: aws.String(stmt), Parameters: values}
}

// executeStatements runs up to 25 PartiQL write statements in one
// BatchExecuteStatement, retrying with backoff those throttled or in
// conflict. failed maps the index of each statement whose condition failed
// to the item as it was (nil when DynamoDB did not return it); any other
// statement error fails the call.
func (s *Store) executeStatements(ctx context.Context, stmts []types.BatchStatementRequest) (failed map[int]map[string]types.AttributeValue, err error) {
	failed = map[int]map[string]types.AttributeValue{}
	pending := make([]int, len(stmts))
	for i := range stmts {
		pending[i] = i
	}
	pause := ledgerPause
	for try := 1; len(pending) > 0; try++ {
		batch := make([]types.BatchStatementRequest, len(pending))
		for j, i := range pending {
			batch[j] = stmts[i]
		}
		out, err := s.DB.BatchExecuteStatement(ctx, &dynamodb.BatchExecuteStatementInput{
			Statements: batch, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, err
		}
		if len(out.Responses) != len(batch) {
			return nil, fmt.Errorf("%d answers to %d statements", len(out.Responses), len(batch))
		}
		var retry []int
		for j, r := range out.Responses {
			i := pending[j]
			if r.Error == nil {
				continue
			}
			switch r.Error.Code {
			case types.BatchStatementErrorCodeEnumConditionalCheckFailed:
				failed[i] = r.Error.Item
			case types.BatchStatementErrorCodeEnumTransactionConflict, types.BatchStatementErrorCodeEnumThrottlingError,
				types.BatchStatementErrorCodeEnumProvisionedThroughputExceeded, types.BatchStatementErrorCodeEnumRequestLimitExceeded,
				types.BatchStatementErrorCodeEnumInternalServerError:
				retry = append(retry, i)
			default:
				return nil, fmt.Errorf("statement %d: %s: %s", i, r.Error.Code, aws.ToString(r.Error.Message))
			}
		}
		pending = retry
		if len(pending) == 0 {
			break
		}
		if try == ledgerTries {
			return nil, fmt.Errorf("%d statements still contended after %d attempts", len(pending), try)
		}
		if err := sleepCtx(ctx, pause); err != nil {
			return nil, err
		}
		pause = min(2*pause, ledgerMaxPause)
	}
	return failed, nil
}

// quotedTable is the table name as a PartiQL identifier.
func (s *Store) quotedTable() string { return `"` + strings.ReplaceAll(s.Table, `"`, `""`) + `"` }

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

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

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
