package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/store"
)

// ExportJob copies a job's files (report.csv, summary.json, validation
// reports, rows and per-batch results) to dir/jobs/<job>/.
func (p *Pipeline) ExportJob(ctx context.Context, dir, job string) error {
	prefix := jobfiles.JobPrefix(p.Tenant, job)
	return p.copyPrefix(ctx, p.Stack.JobsBucket, prefix, filepath.Join(dir, "jobs", job))
}

// ExportProvisioning copies the provisioning bucket to dir/provisioning/,
// keeping its keys.
func (p *Pipeline) ExportProvisioning(ctx context.Context, dir string) error {
	return p.copyPrefix(ctx, p.Stack.ProvisioningBucket, "", filepath.Join(dir, "provisioning"))
}

// ExportRecords writes every table item, sorted by key, as one JSON object
// per line to path. Sealed secrets appear only as their ciphertext.
func (p *Pipeline) ExportRecords(ctx context.Context, path string) error {
	var items []map[string]any
	pager := dynamodb.NewScanPaginator(p.Stack.Clients.DynamoDB, &dynamodb.ScanInput{
		TableName: aws.String(p.Stack.Table), ConsistentRead: aws.Bool(true),
	})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan %s: %w", p.Stack.Table, err)
		}
		for _, it := range page.Items {
			var m map[string]any
			if err := attributevalue.UnmarshalMap(it, &m); err != nil {
				return fmt.Errorf("decode item: %w", err)
			}
			items = append(items, m)
		}
	}
	sort.Slice(items, func(i, j int) bool {
		pi, pj := fmt.Sprint(items[i][store.AttrPK]), fmt.Sprint(items[j][store.AttrPK])
		if pi != pj {
			return pi < pj
		}
		return fmt.Sprint(items[i][store.AttrSK]) < fmt.Sprint(items[j][store.AttrSK])
	})
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return f.Close()
}

// copyPrefix downloads every object under prefix into dir, refusing keys
// that would escape it.
func (p *Pipeline) copyPrefix(ctx context.Context, bucket, prefix, dir string) error {
	pager := s3.NewListObjectsV2Paginator(p.Stack.Clients.S3, &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix),
	})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			rel := strings.TrimPrefix(key, prefix)
			target := filepath.Join(dir, filepath.FromSlash(rel))
			if rel == "" || !strings.HasPrefix(target, filepath.Clean(dir)+string(filepath.Separator)) {
				return fmt.Errorf("refusing to export s3://%s/%s outside %s", bucket, key, dir)
			}
			if err := p.download(ctx, bucket, key, target); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *Pipeline) download(ctx context.Context, bucket, key, target string) error {
	out, err := p.Stack.Clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.Create(target)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, out.Body); err != nil {
		f.Close()
		return fmt.Errorf("download s3://%s/%s: %w", bucket, key, err)
	}
	return f.Close()
}
