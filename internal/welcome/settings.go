package welcome

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

// SettingsLoader is the part of *store.Store that merges a tenant's
// settings over the system defaults.
type SettingsLoader interface {
	LoadSettings(ctx context.Context, tenant string, extra ...[]byte) (pbx.Settings, error)
}

// JobOptionsFunc returns the upload options a job was started with (the job
// item's Options; with *store.Store: GetJob(ctx, tenant, job).Options).
type JobOptionsFunc func(ctx context.Context, tenant, job string) (pbx.Options, error)

// StoreSettings is the SettingsFunc of the Lambda and the CLI: the tenant's
// settings with the job's upload options (welcome mode) laid over them.
func StoreSettings(st SettingsLoader, jobOptions JobOptionsFunc) SettingsFunc {
	return func(ctx context.Context, tenant, job string) (pbx.Settings, error) {
		opts, err := jobOptions(ctx, tenant, job)
		if err != nil {
			return pbx.Settings{}, fmt.Errorf("options of job %s/%s: %w", tenant, job, err)
		}
		upload, err := json.Marshal(map[string]pbx.Options{"upload": opts})
		if err != nil {
			return pbx.Settings{}, fmt.Errorf("encode options of job %s/%s: %w", tenant, job, err)
		}
		return st.LoadSettings(ctx, tenant, upload)
	}
}

// StoreJobOptions reads a job's upload options from its job item.
func StoreJobOptions(st *store.Store) JobOptionsFunc {
	return func(ctx context.Context, tenant, job string) (pbx.Options, error) {
		j, err := st.GetJob(ctx, tenant, job)
		if err != nil {
			return pbx.Options{}, err
		}
		return j.Options, nil
	}
}

// NewStep wires send-welcome as the Lambda function and the CLI do.
func NewStep(s3 ObjectStore, st *store.Store, box Opener, ses Mailer, log *slog.Logger) *Handler {
	return &Handler{S3: s3, Store: st, Secrets: box, SES: ses, Settings: StoreSettings(st, StoreJobOptions(st)), Logger: log}
}
