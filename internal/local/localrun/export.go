package localrun

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"

	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/store"
)

// ExportJob copies a job's files (report.csv, summary.json, validation
// reports, rows and per-batch results) to dir/jobs/<job>/.
func (p *Pipeline) ExportJob(ctx context.Context, dir, job string) error {
	prefix := jobfiles.JobPrefix(p.Tenant, job)
	_, err := p.Stack.ExportObjects(ctx, p.Stack.JobsBucket, prefix, filepath.Join(dir, "jobs", job))
	return err
}

// ExportProvisioning copies the provisioning bucket to dir/provisioning/,
// keeping its keys.
func (p *Pipeline) ExportProvisioning(ctx context.Context, dir string) error {
	_, err := p.Stack.ExportObjects(ctx, p.Stack.ProvisioningBucket, "", filepath.Join(dir, "provisioning"))
	return err
}

// ExportRecords writes the table items of the given tenants (default: the
// pipeline's tenant), sorted by key, as one JSON object per line to path:
// each tenant's partition and the DID, MAC owner and invite items that
// belong to it (store.TenantItems), read by Query and by key, not by a
// Scan of the whole table. Sealed secrets appear only as their ciphertext.
func (p *Pipeline) ExportRecords(ctx context.Context, path string, tenants ...string) error {
	if len(tenants) == 0 {
		tenants = []string{p.Tenant}
	}
	var items []map[string]any
	for _, tenant := range tenants {
		raw, err := p.Store.TenantItems(ctx, tenant)
		if err != nil {
			return err
		}
		for _, it := range raw {
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
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
