package welcome

import (
	"context"
	"log/slog"

	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

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
