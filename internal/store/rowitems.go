package store

// The row-item builder: one row's transaction items (its EXT# aggregate,
// SECRET#, DID and MAC owner items) with their conditions, for WriteRows.

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// attrJob on a row's items is the job that created them (a replay of the
// same job recognises its own rows by it).
const attrJob = "Job"

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
		secret := credentialsItem(tenant, w.Credentials)
		secret[attrJob] = &types.AttributeValueMemberS{Value: opt.Job}
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
	item := attrs("Type", "EXT", "Number", o.Ext.Number, attrJob, opt.Job)
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
