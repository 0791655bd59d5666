package localrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
)

// UploadFile puts a local CSV into the tenant's upload prefix with the upload
// options as object metadata, exactly as `aws s3 cp --metadata` would. The S3
// event that follows runs ingest and the workflow.
func (p *Pipeline) UploadFile(ctx context.Context, path string, options map[string]string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat upload: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	name := filepath.Base(path)
	if !strings.HasSuffix(strings.ToLower(name), ".csv") {
		name += ".csv" // the bucket notification only fires for .csv keys
	}
	key := jobfiles.UploadPrefix(p.Tenant) + name
	// Remember the jobs that exist already, so that JobsFor returns only the
	// ones this upload made (a kept state may hold earlier uploads of the key).
	existing, err := p.Store.ListJobs(ctx, p.Tenant, 0)
	if err != nil {
		return "", fmt.Errorf("list jobs: %w", err)
	}
	before := make(map[string]bool, len(existing))
	for _, j := range existing {
		before[j.ID] = true
	}
	p.mu.Lock()
	if p.jobsBefore == nil {
		p.jobsBefore = map[string]map[string]bool{}
	}
	p.jobsBefore[key] = before
	p.mu.Unlock()
	_, err = p.Stack.Clients.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(p.Stack.UploadsBucket),
		Key:           aws.String(key),
		Body:          f,
		ContentLength: aws.Int64(st.Size()),
		ContentType:   aws.String("text/csv"),
		Metadata:      options,
	})
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	return key, nil
}

// JobsFor returns the jobs the last UploadFile of key made, oldest first,
// once ingest has handled its events and every execution has ended.
func (p *Pipeline) JobsFor(ctx context.Context, key string) ([]jobmodel.Job, error) {
	if err := p.Wait(ctx); err != nil {
		return nil, err
	}
	all, err := p.Store.ListJobs(ctx, p.Tenant, 0)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	p.mu.Lock()
	before := p.jobsBefore[key]
	p.mu.Unlock()
	var jobs []jobmodel.Job
	for _, j := range all {
		if j.Upload.Key == key && !before[j.ID] {
			jobs = append(jobs, j)
		}
	}
	sort.Slice(jobs, func(i, k int) bool { return jobs[i].CreatedAt.Before(jobs[k].CreatedAt) })
	return jobs, nil
}

// Wait returns once every delivered S3 event has been handled and every
// execution has ended. Ingest starts executions while handling events, so
// events are drained first; executions never upload.
func (p *Pipeline) Wait(ctx context.Context) error {
	if err := p.Stack.WaitIdle(ctx); err != nil {
		return fmt.Errorf("wait for S3 events: %w", err)
	}
	for _, x := range p.Engine.Executions() {
		select {
		case <-x.Done():
		case <-ctx.Done():
			return fmt.Errorf("wait for execution %s: %w", x.Name(), ctx.Err())
		}
	}
	return nil
}
