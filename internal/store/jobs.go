package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// CreateJob stores job unless a job with its id exists. created is false
// for a duplicate (a repeated S3 event), with the stored job in existing.
func (s *Store) CreateJob(ctx context.Context, job jobmodel.Job) (created bool, existing jobmodel.Job, err error) {
	if err := pbx.ValidateTenantName(job.Tenant); err != nil {
		return false, jobmodel.Job{}, err
	}
	if job.ID == "" {
		return false, jobmodel.Job{}, pbx.Errorf(pbx.EINVALID, "job", "job id is required")
	}
	if job.CreatedAt.IsZero() {
		job.CreatedAt = time.Now().UTC()
	}
	item, err := attributevalue.MarshalMap(job)
	if err != nil {
		return false, jobmodel.Job{}, fmt.Errorf("marshal job %s: %w", job.ID, err)
	}
	item[AttrPK] = &types.AttributeValueMemberS{Value: TenantPK(job.Tenant)}
	item[AttrSK] = &types.AttributeValueMemberS{Value: JobSK(job.ID)}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.Table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	var conflict *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &conflict):
		existing, err := s.GetJob(ctx, job.Tenant, job.ID)
		return false, existing, err
	case err != nil:
		return false, jobmodel.Job{}, fmt.Errorf("create job %s/%s: %w", job.Tenant, job.ID, err)
	}
	return true, jobmodel.Job{}, nil
}

// GetJob reads one job; a missing one is ENOTFOUND.
func (s *Store) GetJob(ctx context.Context, tenant, id string) (jobmodel.Job, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            itemKey(TenantPK(tenant), JobSK(id)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return jobmodel.Job{}, fmt.Errorf("get job %s/%s: %w", tenant, id, err)
	}
	return jobFromItem(tenant, id, out.Item)
}

// jobFromItem decodes a job item; a nil item is ENOTFOUND.
func jobFromItem(tenant, id string, item map[string]types.AttributeValue) (jobmodel.Job, error) {
	if item == nil {
		return jobmodel.Job{}, pbx.Errorf(pbx.ENOTFOUND, "job", "job %s does not exist", id)
	}
	var job jobmodel.Job
	if err := attributevalue.UnmarshalMap(item, &job); err != nil {
		return jobmodel.Job{}, fmt.Errorf("unmarshal job %s/%s: %w", tenant, id, err)
	}
	return job, nil
}

// ListJobs returns the tenant's jobs, newest first, at most limit (all
// when limit <= 0). Job ids are hashes, so it reads the tenant's job items
// and sorts them by CreatedAt.
func (s *Store) ListJobs(ctx context.Context, tenant string, limit int) ([]jobmodel.Job, error) {
	var jobs []jobmodel.Job
	p := dynamodb.NewQueryPaginator(s.DB, &dynamodb.QueryInput{
		TableName:                aws.String(s.Table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :job)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":  &types.AttributeValueMemberS{Value: TenantPK(tenant)},
			":job": &types.AttributeValueMemberS{Value: JobSK("")},
		},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list jobs of %s: %w", tenant, err)
		}
		var batch []jobmodel.Job
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &batch); err != nil {
			return nil, fmt.Errorf("unmarshal jobs of %s: %w", tenant, err)
		}
		jobs = append(jobs, batch...)
	}
	slices.SortStableFunc(jobs, func(a, b jobmodel.Job) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if limit > 0 && len(jobs) > limit {
		jobs = jobs[:limit]
	}
	return jobs, nil
}

// UpdateJobStatus sets a job's status, counts and error message (kept
// when errMsg is empty); RUNNING also records StartedAt.
func (s *Store) UpdateJobStatus(ctx context.Context, tenant, id, status string, counts events.Counts, errMsg string) error {
	set := map[string]any{"Status": status, "Counts": counts}
	if errMsg != "" {
		set["Error"] = errMsg
	}
	if status == jobmodel.Running {
		set["StartedAt"] = time.Now().UTC()
	}
	// Ingest moves a job on from VALIDATING only: once the workflow has
	// started, finalize may finish the job before ingest records RUNNING,
	// and that final status must not be overwritten.
	return s.updateJobFrom(ctx, tenant, id, jobmodel.Validating, set)
}

// FinishJob records the workflow's end: final status, counts, the report
// and summary keys, and FinishedAt.
func (s *Store) FinishJob(ctx context.Context, tenant, id, status string, counts events.Counts, reportKey, summaryKey string) error {
	return s.updateJob(ctx, tenant, id, map[string]any{
		"Status": status, "Counts": counts, "ReportKey": reportKey, "SummaryKey": summaryKey,
		"FinishedAt": time.Now().UTC(),
	})
}

// updateJob SETs the given attributes on an existing job item.
func (s *Store) updateJob(ctx context.Context, tenant, id string, set map[string]any) error {
	return s.updateJobFrom(ctx, tenant, id, "", set)
}

// updateJobFrom sets attributes of an existing job; with from set, only
// while the job's status is from (else ECONFLICT).
func (s *Store) updateJobFrom(ctx context.Context, tenant, id, from string, set map[string]any) error {
	names := map[string]string{"#pk": AttrPK}
	values := map[string]types.AttributeValue{}
	cond := "attribute_exists(#pk)"
	if from != "" {
		cond += " AND #status = :from"
		names["#status"] = "Status"
		values[":from"] = &types.AttributeValueMemberS{Value: from}
	}
	expr := ""
	attrs := make([]string, 0, len(set))
	for a := range set {
		attrs = append(attrs, a)
	}
	slices.Sort(attrs)
	for i, a := range attrs {
		v, err := attributevalue.Marshal(set[a])
		if err != nil {
			return fmt.Errorf("marshal job %s: %w", a, err)
		}
		n, p := fmt.Sprintf("#a%d", i), fmt.Sprintf(":v%d", i)
		names[n], values[p] = a, v
		if expr != "" {
			expr += ", "
		}
		expr += n + " = " + p
	}
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.Table),
		Key:                                 itemKey(TenantPK(tenant), JobSK(id)),
		UpdateExpression:                    aws.String("SET " + expr),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed) && len(failed.Item) > 0:
		return pbx.Errorf(pbx.ECONFLICT, "job", "job %s is no longer %s", id, from)
	case errors.As(err, &failed):
		return pbx.Errorf(pbx.ENOTFOUND, "job", "job %s does not exist", id)
	case err != nil:
		return fmt.Errorf("update job %s/%s: %w", tenant, id, err)
	}
	return nil
}
