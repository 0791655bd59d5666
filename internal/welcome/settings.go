package welcome

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

// SettingsLoader is the part of *store.Store that merges a tenant's
// settings over the system defaults.
type SettingsLoader interface {
	LoadSettings(ctx context.Context, tenant string, extra ...[]byte) (pbx.Settings, error)
}

// JobOptionsFunc returns the upload options a job was started with.
type JobOptionsFunc func(ctx context.Context, tenant, job string) (pbx.Options, error)

// StoreSettings is the SettingsFunc of the Lambda and the CLI: the tenant's
// settings with the job's upload options (welcome mode) laid over them.
func StoreSettings(st SettingsLoader, jobOptions JobOptionsFunc) SettingsFunc {
	return func(ctx context.Context, tenant, job string) (pbx.Settings, error) {
		opts, err := jobOptions(ctx, tenant, job)
		if err != nil {
			return pbx.Settings{}, fmt.Errorf("options of job %s/%s: %w", tenant, job, err)
		}
		upload, err := opts.Layer()
		if err != nil {
			return pbx.Settings{}, fmt.Errorf("encode options of job %s/%s: %w", tenant, job, err)
		}
		return st.LoadSettings(ctx, tenant, upload)
	}
}

// JobSettingsReader is the part of *store.Store that StoreJobSettings uses.
type JobSettingsReader interface {
	JobSettings(ctx context.Context, tenant, job string) (jobmodel.Job, pbx.Settings, error)
}

// StoreJobSettings is the SettingsFunc of the Lambda and the CLI: the
// tenant's settings with the job's upload options laid over them, read
// with the job item in one call (store.JobSettings).
func StoreJobSettings(st JobSettingsReader) SettingsFunc {
	return func(ctx context.Context, tenant, job string) (pbx.Settings, error) {
		_, settings, err := st.JobSettings(ctx, tenant, job)
		return settings, err
	}
}

// NewStep wires send-welcome as the Lambda function and the CLI do.
func NewStep(s3 ObjectStore, st *store.Store, box Opener, ses Mailer, log *slog.Logger) *Handler {
	return &Handler{S3: s3, Store: st, Secrets: box, SES: ses, Settings: StoreJobSettings(st), Logger: log}
}
