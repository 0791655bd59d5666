package lambdaenv

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bulkprov/bulkprov/internal/awsconf/awsbase"
)

// Env is what a function's build gets at start-up.
type Env struct {
	Resources
	// Log is the shared JSON logger (Logger); every handler logs to it.
	Log *slog.Logger
	// Getenv reads a function's own settings (API_BASE_PATH, SIP_REALMS, ...).
	Getenv func(string) string
	// AWS and Endpoints build the function's own clients (s3c.New(e.AWS,
	// e.Endpoints), ...), so it links only the services it uses.
	AWS       aws.Config
	Endpoints awsbase.Endpoints
}

// BuildFunc wires a function's handler from its environment.
type BuildFunc[H any] func(Env) (H, error)

// Build checks that the required resources are set, loads the AWS config
// and calls build. It is Wire without the exit, for tests: a function's
// main_test calls it with its own getenv.
func Build[H any](ctx context.Context, log *slog.Logger, getenv func(string) string, required []string, build BuildFunc[H]) (H, error) {
	var zero H
	res := ResourcesFromEnv(getenv)
	if err := res.Require(required...); err != nil {
		return zero, err
	}
	cfg, ep, err := Config(ctx)
	if err != nil {
		return zero, err
	}
	return build(Env{Resources: res, Log: log, Getenv: getenv, AWS: cfg, Endpoints: ep})
}

// Wire is a Lambda function's start-up: the shared logger, then Build from
// the process environment. A start-up error is logged as "<name>: start"
// and exits 1, so the function fails at its first invocation's init rather
// than on an event. main then hands the handler's entry point to
// lambda.Start.
func Wire[H any](name string, required []string, build BuildFunc[H]) H {
	log := Logger(os.Getenv)
	h, err := Build(context.Background(), log, os.Getenv, required, build)
	if err != nil {
		log.Error(name+": start", "error", err)
		os.Exit(1)
	}
	return h
}
