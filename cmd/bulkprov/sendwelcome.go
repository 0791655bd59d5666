package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/pipeline"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/welcome"
	"github.com/bulkprov/bulkprov/internal/welcomejob"
)

const sendWelcomeUsage = `usage: bulkprov send-welcome --tenant T --job J [--state DIR] [--resend-uncertain] [--json]

Sends the welcome emails of a job's created users that have none yet: the
deferred emails of a job uploaded with welcome=none, emails held by a daily
quota (email_held_quota: the SES account's 24-hour quota or the tenant's
email.daily_quota), and emails that failed before (rejected, throttled). Users who got theirs are never emailed again.
With --resend-uncertain it also re-sends emails whose earlier attempt was
interrupted (reported email_uncertain): those users may get a second email.

With --state DIR it works on the local stack kept in DIR (bulkprov run
--state DIR); without, on AWS, with TABLE_NAME, JOBS_BUCKET and KMS_KEY_ID
from the environment.
`

// runSendWelcome is `bulkprov send-welcome`.
func runSendWelcome(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("send-welcome", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenant := fs.String("tenant", "", "the job's tenant")
	job := fs.String("job", "", "the job id")
	stateDir := fs.String("state", "", "work on the local stack kept in `DIR`")
	resendUncertain := fs.Bool("resend-uncertain", false, "also re-send emails whose earlier attempt was interrupted")
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, sendWelcomeUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
		return code
	}
	if err := pbx.ValidateTenantName(*tenant); err != nil {
		fmt.Fprintf(stderr, "send-welcome: --tenant: %v\n", pbx.ErrorMessage(err))
		return exitUsage
	}
	if *job == "" || strings.ContainsAny(*job, "/#") {
		fmt.Fprintln(stderr, "send-welcome: --job is required (a job id such as the one bulkprov run printed)")
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	env, closeEnv, err := sendWelcomeEnv(ctx, *stateDir, log)
	if err != nil {
		fmt.Fprintf(stderr, "send-welcome: %v\n", err)
		return exitUsage
	}
	defer closeEnv()

	total, err := sendJobWelcome(ctx, env, *tenant, *job, welcome.Options{SendDeferred: true, ResendUncertain: *resendUncertain})
	if err != nil {
		fmt.Fprintf(stderr, "send-welcome: %v\n", err)
		if pbx.ErrorCode(err) == pbx.ENOTFOUND || pbx.ErrorCode(err) == pbx.EINVALID {
			return exitUsage
		}
		return exitFailed
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(total); err != nil {
			return exitFailed
		}
	} else {
		printWelcomeTotal(stdout, *tenant, *job, total, env.outbox, *resendUncertain)
	}
	if total.Failed > 0 {
		return exitFailed
	}
	return exitOK
}

// printWelcomeTotal prints the outcome for a person: the counts, where the
// messages are, and what to do about held and uncertain emails.
func printWelcomeTotal(w io.Writer, tenant, job string, total events.WelcomeOutput, outbox string, resendUncertain bool) {
	fmt.Fprintf(w, "job %s/%s: %d sent, %d already sent, %d failed (%d uncertain), %d held\n",
		tenant, job, total.Sent, total.AlreadySent, total.Failed, total.Uncertain, total.Held)
	if outbox != "" {
		fmt.Fprintf(w, "messages: %s\n", outbox)
	}
	if total.Held > 0 {
		fmt.Fprintln(w, "held emails wait for a daily quota (the email service's 24-hour quota or the tenant's email.daily_quota); run send-welcome again later")
	}
	if total.Uncertain > 0 && !resendUncertain {
		fmt.Fprintln(w, "uncertain emails may have been delivered; --resend-uncertain sends them again")
	}
}

// welcomeEnv is where send-welcome works: the local stack or AWS.
type welcomeEnv struct {
	sender *welcomejob.Sender
	outbox string // local stack only
}

func sendWelcomeEnv(ctx context.Context, stateDir string, log *slog.Logger) (*welcomeEnv, func(), error) {
	if stateDir != "" {
		if _, err := os.Stat(filepath.Join(stateDir, "dynamodb")); err != nil {
			return nil, nil, fmt.Errorf("--state %s holds no stored data (run `bulkprov run --state %s` first): %w", stateDir, stateDir, err)
		}
		stack, err := devstack.Start(ctx, devstack.Config{StateDir: stateDir})
		if err != nil {
			return nil, nil, fmt.Errorf("start the local stack in %s: %w", stateDir, err)
		}
		env := newWelcomeEnv(stack.Clients, stack.Table, stack.KMSKeyID, stack.JobsBucket, log)
		env.outbox = stack.OutboxDir
		return env, func() { _ = stack.Close() }, nil
	}
	table, bucket, keyID := os.Getenv("TABLE_NAME"), os.Getenv("JOBS_BUCKET"), os.Getenv("KMS_KEY_ID")
	if table == "" || bucket == "" || keyID == "" {
		return nil, nil, errors.New("without --state, TABLE_NAME, JOBS_BUCKET and KMS_KEY_ID must be set")
	}
	clients, err := awsconf.New(ctx, awsconf.EndpointsFromEnv())
	if err != nil {
		return nil, nil, err
	}
	return newWelcomeEnv(clients, table, keyID, bucket, log), func() {}, nil
}

func newWelcomeEnv(c *awsconf.Clients, table, keyID, jobsBucket string, log *slog.Logger) *welcomeEnv {
	st := store.New(c.DynamoDB, table)
	return &welcomeEnv{sender: &welcomejob.Sender{
		Welcome:  pipeline.NewWelcome(c, st, secrets.NewBox(c.KMS, keyID), log),
		Finalize: pipeline.NewFinalize(c, st, log),
		Jobs:     st, S3: c.S3, JobsBucket: jobsBucket,
	}}
}

// sendJobWelcome sends the job's due emails (welcomejob, the code path the
// portal uses too) and refreshes its report.
func sendJobWelcome(ctx context.Context, env *welcomeEnv, tenant, job string, opt welcome.Options) (events.WelcomeOutput, error) {
	res, err := env.sender.Send(ctx, welcomejob.Request{Tenant: tenant, Job: job, ResendUncertain: opt.ResendUncertain})
	return res.Total, err
}
