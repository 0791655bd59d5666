package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Settings items hold their overrides as a JSON document (attribute
// "Overrides"), merged over pbx.SystemDefaults by pbx.Merge.
const attrOverrides = "Overrides"

// PutSystemDefaults stores the installation's overrides of pbx.SystemDefaults.
func (s *Store) PutSystemDefaults(ctx context.Context, overrides []byte) error {
	if _, err := pbx.Merge(pbx.SystemDefaults(), overrides); err != nil {
		return err
	}
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			AttrPK:        &types.AttributeValueMemberS{Value: SystemPK()},
			AttrSK:        &types.AttributeValueMemberS{Value: SKDefaults},
			attrOverrides: &types.AttributeValueMemberS{Value: string(overrides)},
		},
	})
	if err != nil {
		return fmt.Errorf("put system defaults: %w", err)
	}
	return nil
}

// PutTenant creates or replaces a tenant and its settings overrides, after
// checking that they merge into valid settings. The tenant's provisioning
// folder (provisioning.path, or its name) is claimed in the same
// transaction (a PROVPATH# item): no two tenants share a folder, and no
// tenant may take another tenant's name as its folder.
func (s *Store) PutTenant(ctx context.Context, t pbx.Tenant, overrides []byte) error {
	if err := t.Validate(); err != nil {
		return err
	}
	system, err := s.systemOverrides(ctx)
	if err != nil {
		return err
	}
	merged, err := pbx.Merge(pbx.SystemDefaults(), system, overrides)
	if err != nil {
		return err
	}
	old, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: itemKey(TenantPK(t.Name), SKSettings), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("get tenant %s settings: %w", t.Name, err)
	}
	item := map[string]types.AttributeValue{
		AttrPK:        &types.AttributeValueMemberS{Value: TenantPK(t.Name)},
		AttrSK:        &types.AttributeValueMemberS{Value: SKSettings},
		"DisplayName": &types.AttributeValueMemberS{Value: t.DisplayName},
		attrOverrides: &types.AttributeValueMemberS{Value: string(overrides)},
	}
	items := append([]types.TransactWriteItem{{Put: &types.Put{TableName: aws.String(s.Table), Item: item}}},
		s.provisioningPathClaim(t.Name, merged.ProvisioningPath(t.Name), stringAttr(old.Item, attrProvisioningPath), item)...)
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		return pbx.Errorf(pbx.ECONFLICT, "provisioning.path", "the provisioning folder %q is already used by another tenant; choose another provisioning.path", merged.ProvisioningPath(t.Name))
	}
	if err != nil {
		return fmt.Errorf("put tenant %s: %w", t.Name, err)
	}
	return nil
}

// attrProvisioningPath on a tenant's SETTINGS item is the folder it has
// claimed, so that a change can release the old one.
const attrProvisioningPath = "ProvisioningPath"

// provisioningPathClaim returns the transaction items claiming folder for
// tenant (and releasing old), and records the claim on the settings item.
func (s *Store) provisioningPathClaim(tenant, folder, old string, settings map[string]types.AttributeValue) []types.TransactWriteItem {
	settings[attrProvisioningPath] = &types.AttributeValueMemberS{Value: folder}
	names := map[string]string{"#pk": AttrPK, "#tenant": attrOwnerTenant}
	mine := map[string]types.AttributeValue{":tenant": &types.AttributeValueMemberS{Value: tenant}}
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			AttrPK: &types.AttributeValueMemberS{Value: ProvisioningPathPK(folder)}, AttrSK: &types.AttributeValueMemberS{Value: SKOwner},
			"Type": &types.AttributeValueMemberS{Value: "PROVPATH_OWNER"}, attrOwnerTenant: &types.AttributeValueMemberS{Value: tenant},
		},
		ConditionExpression:      aws.String("attribute_not_exists(#pk) OR #tenant = :tenant"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: mine,
	}}}
	if folder != tenant {
		// Another tenant's name is that tenant's folder by default.
		items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String(s.Table), Key: itemKey(TenantPK(folder), SKSettings),
			ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
		}})
	}
	if old != "" && old != folder {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName: aws.String(s.Table), Key: itemKey(ProvisioningPathPK(old), SKOwner),
			ConditionExpression:      aws.String("attribute_not_exists(#pk) OR #tenant = :tenant"),
			ExpressionAttributeNames: names, ExpressionAttributeValues: mine,
		}})
	}
	return items
}

// LoadSettings returns the tenant's effective settings: system defaults,
// the stored system overrides, the tenant's overrides, then extra (e.g. the
// upload's options), in that order. An unknown tenant is ENOTFOUND. Both
// stored layers come from one BatchGetItem.
func (s *Store) LoadSettings(ctx context.Context, tenant string, extra ...[]byte) (pbx.Settings, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return pbx.Settings{}, err
	}
	items, err := s.settingsItems(ctx, tenant, "")
	if err != nil {
		return pbx.Settings{}, err
	}
	return mergeSettings(tenant, items, extra...)
}

// JobSettings returns a job and the settings its batches work with: the
// tenant's effective settings (LoadSettings) with the job's upload options
// laid over them. The system defaults, the tenant's settings and the job
// item come from one consistent BatchGetItem: every batch of every step
// starts with this read, and one round trip instead of three is most of a
// small batch's fixed cost. An unknown tenant or job is ENOTFOUND.
func (s *Store) JobSettings(ctx context.Context, tenant, job string) (jobmodel.Job, pbx.Settings, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return jobmodel.Job{}, pbx.Settings{}, err
	}
	items, err := s.settingsItems(ctx, tenant, job)
	if err != nil {
		return jobmodel.Job{}, pbx.Settings{}, err
	}
	j, err := jobFromItem(tenant, job, items.job)
	if err != nil {
		return jobmodel.Job{}, pbx.Settings{}, err
	}
	upload, err := j.Options.Layer()
	if err != nil {
		return jobmodel.Job{}, pbx.Settings{}, fmt.Errorf("encode options of job %s/%s: %w", tenant, job, err)
	}
	settings, err := mergeSettings(tenant, items, upload)
	if err != nil {
		return jobmodel.Job{}, pbx.Settings{}, err
	}
	return j, settings, nil
}

// storedSettings are the items settings are made of: the system overrides
// item, the tenant's settings item and, when asked for, a job's item; each
// nil when absent.
type storedSettings struct {
	system, tenant, job map[string]types.AttributeValue
}

// settingsItems reads the system defaults item, the tenant's settings item
// and (job not "") the job's item in one consistent BatchGetItem.
func (s *Store) settingsItems(ctx context.Context, tenant, job string) (storedSettings, error) {
	keys := []map[string]types.AttributeValue{itemKey(SystemPK(), SKDefaults), itemKey(TenantPK(tenant), SKSettings)}
	if job != "" {
		keys = append(keys, itemKey(TenantPK(tenant), JobSK(job)))
	}
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return storedSettings{}, fmt.Errorf("get tenant %s settings: %w", tenant, err)
	}
	var out storedSettings
	for _, item := range items { // BatchGetItem answers in no particular order
		switch sk := stringAttr(item, AttrSK); {
		case sk == SKDefaults:
			out.system = item
		case sk == SKSettings:
			out.tenant = item
		case job != "" && sk == JobSK(job):
			out.job = item
		}
	}
	return out, nil
}

// mergeSettings lays the stored overrides and extra over the system
// defaults; a tenant without a settings item is ENOTFOUND.
func mergeSettings(tenant string, items storedSettings, extra ...[]byte) (pbx.Settings, error) {
	if items.tenant == nil {
		return pbx.Settings{}, pbx.Errorf(pbx.ENOTFOUND, "tenant", "tenant %q does not exist", tenant)
	}
	system := []byte(stringAttr(items.system, attrOverrides))
	tenantOverrides := []byte(stringAttr(items.tenant, attrOverrides))
	layers := append([][]byte{system, tenantOverrides}, extra...)
	settings, err := pbx.Merge(pbx.SystemDefaults(), layers...)
	if err != nil {
		return pbx.Settings{}, fmt.Errorf("tenant %s settings: %w", tenant, err)
	}
	if settings.TenantDisplayName == "" {
		settings.TenantDisplayName = stringAttr(items.tenant, "DisplayName")
	}
	if settings.TenantDisplayName == "" {
		settings.TenantDisplayName = tenant
	}
	return settings, nil
}

func (s *Store) systemOverrides(ctx context.Context) ([]byte, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table),
		Key:       itemKey(SystemPK(), SKDefaults),
	})
	if err != nil {
		return nil, fmt.Errorf("get system defaults: %w", err)
	}
	return []byte(stringAttr(out.Item, attrOverrides)), nil
}

// itemKey is the primary key of one item.
func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: pk},
		AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// stringAttr returns a string attribute's value, "" when absent.
func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// TenantOverrides returns a tenant's display name and its stored settings
// overrides as saved (the JSON document, "" when none). An unknown tenant
// is ENOTFOUND.
func (s *Store) TenantOverrides(ctx context.Context, tenant string) (displayName string, overrides []byte, err error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return "", nil, err
	}
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            itemKey(TenantPK(tenant), SKSettings),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", nil, fmt.Errorf("get tenant %s settings: %w", tenant, err)
	}
	if out.Item == nil {
		return "", nil, pbx.Errorf(pbx.ENOTFOUND, "tenant", "tenant %q does not exist", tenant)
	}
	return stringAttr(out.Item, "DisplayName"), []byte(stringAttr(out.Item, attrOverrides)), nil
}

// SystemOverrides returns the installation's stored overrides of
// pbx.SystemDefaults ("" when none).
func (s *Store) SystemOverrides(ctx context.Context) ([]byte, error) {
	return s.systemOverrides(ctx)
}

// ReplaceTenantOverrides stores new overrides for an existing tenant if its
// stored overrides are still prev (an optimistic lock: two admins saving at
// once do not silently undo each other). A changed document is ECONFLICT,
// an unknown tenant ENOTFOUND; overrides that do not merge into valid
// settings (over the stored system overrides) are refused as PutTenant does.
func (s *Store) ReplaceTenantOverrides(ctx context.Context, tenant string, prev, overrides []byte) error {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return err
	}
	system, err := s.systemOverrides(ctx)
	if err != nil {
		return err
	}
	if _, err := pbx.Merge(pbx.SystemDefaults(), system, overrides); err != nil {
		return err
	}
	cond := "attribute_exists(#pk) AND #o = :prev"
	if len(prev) == 0 {
		cond = "attribute_exists(#pk) AND (attribute_not_exists(#o) OR #o = :prev)"
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.Table),
		Key:                      itemKey(TenantPK(tenant), SKSettings),
		UpdateExpression:         aws.String("SET #o = :new"),
		ConditionExpression:      aws.String(cond),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#o": attrOverrides},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":prev": &types.AttributeValueMemberS{Value: string(prev)},
			":new":  &types.AttributeValueMemberS{Value: string(overrides)},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed) && len(failed.Item) > 0:
		return pbx.Errorf(pbx.ECONFLICT, "settings", "the settings were changed by someone else since you loaded them")
	case errors.As(err, &failed):
		return pbx.Errorf(pbx.ENOTFOUND, "tenant", "tenant %q does not exist", tenant)
	case err != nil:
		return fmt.Errorf("update tenant %s settings: %w", tenant, err)
	}
	return nil
}
