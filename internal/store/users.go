package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// UserRecord is one user as stored, in domain terms (no secrets).
type UserRecord struct {
	Extension, SIPUser, FirstName, LastName, Email, Mobile, Department string
	// CallerID is the endpoint's caller ID as an upload's caller_id cell
	// would set it: "" for the default (display name + extension), the
	// number alone when only it differs, else `Name <number>`.
	CallerID, DID, MAC, PhoneModel string // empty when absent
	Voicemail                      bool   // mailbox present
	JobID                          string // the job that last wrote it, when stored

	// CallerIDName and CallerIDNum are the endpoint's caller ID as stored.
	CallerIDName, CallerIDNum string
	// CreatedBy is the job that created the user; JobID differs from it
	// after an on-existing=update.
	CreatedBy string
}

// ListUsers returns every user of tenant, sorted by extension (numeric-aware), paging the query fully.
func (s *Store) ListUsers(ctx context.Context, tenant string) ([]UserRecord, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	byExt := map[string]*userItems{}
	at := func(ext string) *userItems {
		u := byExt[ext]
		if u == nil {
			u = &userItems{}
			byExt[ext] = u
		}
		return u
	}
	for _, q := range []struct {
		prefix string
		set    func(item map[string]types.AttributeValue)
	}{
		{"USER#", func(it map[string]types.AttributeValue) { at(stringAttr(it, "Extension")).user = it }},
		{"ENDPOINT#", func(it map[string]types.AttributeValue) { at(stringAttr(it, "Extension")).endpoint = it }},
		{"MAILBOX#", func(it map[string]types.AttributeValue) { at(stringAttr(it, "Number")).mailbox = it }},
	} {
		if err := s.queryPrefix(ctx, TenantPK(tenant), q.prefix, q.set); err != nil {
			return nil, fmt.Errorf("list users of %s: %w", tenant, err)
		}
	}
	users := make([]UserRecord, 0, len(byExt))
	for _, u := range byExt {
		if u.user == nil { // a user is its USER item; nothing else is listed alone
			continue
		}
		users = append(users, u.record())
	}
	sort.Slice(users, func(i, j int) bool { return extensionLess(users[i].Extension, users[j].Extension) })
	return users, nil
}

// GetUser returns the user with extension ext; ok is false when there is none.
func (s *Store) GetUser(ctx context.Context, tenant, ext string) (u UserRecord, ok bool, err error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return UserRecord{}, false, err
	}
	if err := pbx.ValidateExtension(ext); err != nil {
		return UserRecord{}, false, err
	}
	pk := TenantPK(tenant)
	items, err := s.batchGet(ctx, []map[string]types.AttributeValue{
		itemKey(pk, UserSK(ext)), itemKey(pk, EndpointSK(pbx.SIPUserName(ext, tenant))), itemKey(pk, MailboxSK(ext)),
	})
	if err != nil {
		return UserRecord{}, false, fmt.Errorf("get user %s of %s: %w", ext, tenant, err)
	}
	var ui userItems
	for _, it := range items {
		switch sk := stringAttr(it, AttrSK); {
		case strings.HasPrefix(sk, "USER#"):
			ui.user = it
		case strings.HasPrefix(sk, "ENDPOINT#"):
			ui.endpoint = it
		case strings.HasPrefix(sk, "MAILBOX#"):
			ui.mailbox = it
		}
	}
	if ui.user == nil {
		return UserRecord{}, false, nil
	}
	return ui.record(), true, nil
}

// DIDRoute returns the extension a tenant's DID routes to; ok false when none.
func (s *Store) DIDRoute(ctx context.Context, tenant, did string) (ext string, ok bool, err error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return "", false, err
	}
	if did == "" {
		return "", false, pbx.Errorf(pbx.EINVALID, "did", "the DID is empty")
	}
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: itemKey(TenantPK(tenant), DIDSK(did)), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#ext"), ExpressionAttributeNames: map[string]string{"#ext": attrRouteExtension},
	})
	if err != nil {
		return "", false, fmt.Errorf("get route of DID %s of %s: %w", did, tenant, err)
	}
	ext = stringAttr(out.Item, attrRouteExtension)
	return ext, ext != "", nil
}

// userItems are the stored items that make up one user.
type userItems struct {
	user, endpoint, mailbox map[string]types.AttributeValue
}

func (u userItems) record() UserRecord {
	r := UserRecord{
		Extension:  stringAttr(u.user, "Extension"),
		FirstName:  stringAttr(u.user, "FirstName"),
		LastName:   stringAttr(u.user, "LastName"),
		Email:      stringAttr(u.user, "Email"),
		Department: stringAttr(u.user, "Department"),
		CreatedBy:  stringAttr(u.user, "Job"),
		JobID:      stringAttr(u.user, "UpdatedBy"),
	}
	if r.JobID == "" {
		r.JobID = r.CreatedBy
	}
	if u.endpoint != nil {
		r.SIPUser = stringAttr(u.endpoint, "SIPUser")
		r.DID = stringAttr(u.endpoint, "DID")
		r.MAC = stringAttr(u.endpoint, "MAC")
		r.PhoneModel = stringAttr(u.endpoint, "Model")
		r.CallerIDName = stringAttr(u.endpoint, "CallerIDName")
		r.CallerIDNum = stringAttr(u.endpoint, "CallerIDNum")
	}
	if u.mailbox != nil {
		r.Voicemail = true
		r.Mobile = stringAttr(u.mailbox, "Pager")
	}
	r.CallerID = callerIDCell(r)
	return r
}

// callerIDCell is the caller_id cell that reproduces r's caller ID over
// pbx.Build's default (display name and extension).
func callerIDCell(r UserRecord) string {
	name := pbx.UserRow{FirstName: r.FirstName, LastName: r.LastName}.DisplayName()
	if name == "" {
		name = r.Extension
	}
	switch {
	case r.CallerIDNum == "" || r.CallerIDName == name && r.CallerIDNum == r.Extension:
		return ""
	case r.CallerIDName == name || r.CallerIDName == "":
		return r.CallerIDNum
	default:
		return r.CallerIDName + " <" + r.CallerIDNum + ">"
	}
}

// extensionLess orders extensions by number ("9" < "10"), then as text
// ("01" < "1"), so leading zeros still give a total order.
func extensionLess(a, b string) bool {
	ta, tb := strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(ta) != len(tb) {
		return len(ta) < len(tb)
	}
	if ta != tb {
		return ta < tb
	}
	return a < b
}

// queryPrefix reads every item of partition pk whose sort key starts with
// prefix, consistently, following LastEvaluatedKey to the end.
func (s *Store) queryPrefix(ctx context.Context, pk, prefix string, each func(map[string]types.AttributeValue)) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}, ":prefix": &types.AttributeValueMemberS{Value: prefix}},
		ConsistentRead:            aws.Bool(true),
	}
	if s.queryPageLimit > 0 {
		in.Limit = aws.Int32(s.queryPageLimit)
	}
	p := dynamodb.NewQueryPaginator(s.DB, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("query %s %s*: %w", pk, prefix, err)
		}
		for _, it := range page.Items {
			each(it)
		}
	}
	return nil
}
