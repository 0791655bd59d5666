// Package devstack runs bulkprov's AWS dependencies on loopback so that the
// CLI and the tests reach them through the real aws-sdk-go-v2 clients:
//
//   - S3: gofakes3 in-process, with S3-style event notifications for the
//     uploads bucket (SetUploadHandler);
//   - DynamoDB: Amazon's DynamoDB Local as a child JVM;
//   - SES v2 and KMS: small in-process endpoints speaking the services' wire
//     protocols (restjson1 and JSON 1.1).
//
// Start one Stack per test binary with ForTests (the JVM takes 2-10 s to
// start on a busy 2-core machine and holds ~400 MB), or per CLI run with
// Start. Clients for services the stack does not run (Step Functions, and
// DynamoDB with NoDynamoDB) point at a loopback stand-in that fails every
// call, never at AWS.
//
// DynamoDB Local is found through $BULKPROV_DYNAMODB_JAR or the npm package
// amplify-dynamodb-simulator under node_modules (`npm ci`), and needs java
// on PATH. It runs in its own process group, is stopped by Close, and is
// killed by the kernel if the test binary dies (Pdeathsig, Linux).
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/store"
)

// Names of the resources every stack creates. They match the CDK stack's
// defaults so that the same configuration works against both.
const (
	UploadsBucket      = "bulkprov-uploads"
	JobsBucket         = "bulkprov-jobs"
	ProvisioningBucket = "bulkprov-provisioning"
	Table              = "bulkprov"
)

// Config chooses where the stack keeps its state and what it starts.
type Config struct {
	// StateDir "" keeps everything in memory or in temporary folders, empty at
	// each start. Otherwise state persists under it: DynamoDB Local's
	// database in StateDir/dynamodb, S3 in StateDir/s3.bolt, the KMS master
	// key in StateDir/kms.key and, unless OutboxDir is set, StateDir/outbox.
	StateDir string
	// OutboxDir is where SES messages are written as .eml files; "" means
	// StateDir/outbox, or a temporary folder removed on Close.
	OutboxDir string
	// Logger receives the stack's own logs; nil discards them.
	Logger *slog.Logger
	// NoDynamoDB skips the JVM, for callers that need only S3, SES and KMS.
	NoDynamoDB bool
	// APIOptions are added to the built clients' middleware stacks, e.g. a
	// callstats.Counter's Middleware.
	APIOptions []func(*middleware.Stack) error
}

// Stack is a running set of local endpoints and clients built for them.
type Stack struct {
	Endpoints awsconf.Endpoints
	// Clients are real SDK clients pointed at the local endpoints, with
	// Config.APIOptions installed.
	Clients *awsconf.Clients

	UploadsBucket, JobsBucket, ProvisioningBucket string
	Table                                         string
	KMSKeyID                                      string
	OutboxDir                                     string

	log     *slog.Logger
	s3      *s3Server
	dynamo  *dynamoProcess
	ses     *SESServer
	kms     *kmsServer
	servers []*loopbackServer
	tempDir string // removed on Close; "" with StateDir
	region  string // the clients' region, in ARNs and S3 events

	closeOnce sync.Once
	closeErr  error
}

// Start starts every endpoint, creates the buckets and the table (keeping
// existing ones when StateDir is set) and builds clients for them. On error,
// whatever had started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	s := &Stack{
		UploadsBucket:      UploadsBucket,
		JobsBucket:         JobsBucket,
		ProvisioningBucket: ProvisioningBucket,
		Table:              Table,
		log:                cfg.Logger,
		region:             "us-east-1",
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if err := s.makeDirs(cfg); err != nil {
		return nil, err
	}
	// Start the JVM first: it is the slowest part, and the in-process
	// servers come up while it boots.
	if err := s.startDynamoEndpoint(cfg); err != nil {
		return nil, err
	}
	if err := s.startInProcess(cfg); err != nil {
		return nil, err
	}
	admin, err := s.buildClients(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.createResources(ctx, admin); err != nil {
		return nil, err
	}
	s.log.Info("devstack started", "s3", s.Endpoints.S3, "dynamodb", s.Endpoints.DynamoDB,
		"ses", s.Endpoints.SES, "kms", s.Endpoints.KMS, "outbox", s.OutboxDir)
	return s, nil
}

// makeDirs makes the state dir (or a temporary one) and the outbox.
func (s *Stack) makeDirs(cfg Config) error {
	if cfg.StateDir == "" {
		var err error
		if s.tempDir, err = os.MkdirTemp("", "bulkprov-devstack-"); err != nil {
			return fmt.Errorf("devstack: temp dir: %w", err)
		}
	} else if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("devstack: state dir: %w", err)
	}
	s.OutboxDir = cfg.OutboxDir
	if s.OutboxDir == "" {
		s.OutboxDir = filepath.Join(cfg.StateDir, "outbox")
		if cfg.StateDir == "" {
			s.OutboxDir = filepath.Join(s.tempDir, "outbox")
		}
	}
	if err := os.MkdirAll(s.OutboxDir, 0o700); err != nil {
		return fmt.Errorf("devstack: outbox dir: %w", err)
	}
	return nil
}

// startDynamoEndpoint starts DynamoDB Local's JVM (its database under StateDir
// when set), or with NoDynamoDB an endpoint that refuses every call.
func (s *Stack) startDynamoEndpoint(cfg Config) error {
	var err error
	if cfg.NoDynamoDB {
		if s.Endpoints.DynamoDB, err = s.serve(unavailable("DynamoDB", "started with Config.NoDynamoDB")); err != nil {
			return err
		}
		return nil
	}
	dbDir := ""
	if cfg.StateDir != "" {
		dbDir = filepath.Join(cfg.StateDir, "dynamodb")
	}
	if s.dynamo, err = startDynamoDB(dbDir, s.log); err != nil {
		return err
	}
	s.Endpoints.DynamoDB = s.dynamo.endpoint
	return nil
}

// startInProcess serves the in-process endpoints: S3, SES, KMS and a Step
// Functions endpoint that refuses every call (the workflow runs on the
// local engine, never on AWS Step Functions).
func (s *Stack) startInProcess(cfg Config) error {
	var err error
	if s.Endpoints.SFN, err = s.serve(unavailable("Step Functions", "run the workflow with the local engine")); err != nil {
		return err
	}
	region := func() string { return s.region }
	if s.s3, err = newS3Server(cfg.StateDir, s.log, region); err != nil {
		return err
	}
	if s.Endpoints.S3, err = s.serve(s.s3.httpHandler()); err != nil {
		return err
	}
	if s.ses, err = newSESServer(s.OutboxDir, s.log); err != nil {
		return err
	}
	if s.Endpoints.SES, err = s.serve(s.ses); err != nil {
		return err
	}
	if s.kms, err = newKMSServer(cfg.StateDir, region); err != nil {
		return err
	}
	if s.Endpoints.KMS, err = s.serve(s.kms); err != nil {
		return err
	}
	return nil
}

// buildClients builds the callers' clients (with Config.APIOptions) and
// returns admin clients without them, so that setup and readiness probes
// do not show up in a caller's call accounting. The stack takes the
// clients' region for its ARNs and S3 events.
func (s *Stack) buildClients(ctx context.Context, cfg Config) (*awsconf.Clients, error) {
	admin, err := awsconf.New(ctx, s.Endpoints)
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.region = admin.Config.Region
	s.KMSKeyID = s.kms.keyARN()
	s.Clients, err = awsconf.New(ctx, s.Endpoints, func(c *aws.Config) {
		c.APIOptions = append(c.APIOptions, cfg.APIOptions...)
	})
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	return admin, nil
}

// createResources creates the buckets (watching the uploads prefix for
// events) and, once DynamoDB Local answers, the table.
func (s *Stack) createResources(ctx context.Context, admin *awsconf.Clients) error {
	for _, b := range []string{s.UploadsBucket, s.JobsBucket, s.ProvisioningBucket} {
		if err := s.s3.createBucket(b); err != nil {
			return err
		}
	}
	s.s3.watch(s.UploadsBucket, "tenants/")
	if s.dynamo != nil {
		if err := s.dynamo.waitReady(ctx, admin.DynamoDB); err != nil {
			return err
		}
		if err := store.CreateTable(ctx, admin.DynamoDB, s.Table); err != nil {
			return fmt.Errorf("devstack: %w", err)
		}
	}
	return nil
}

func (s *Stack) serve(h httpHandler) (string, error) {
	srv, err := serveLoopback(h)
	if err != nil {
		return "", fmt.Errorf("devstack: %w", err)
	}
	s.servers = append(s.servers, srv)
	return srv.url, nil
}

// Close waits briefly for upload deliveries in flight, then stops the
// servers and the JVM. It is safe to call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.s3 != nil {
			s.s3.stopDeliveries(10 * time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := len(s.servers) - 1; i >= 0; i-- {
			errs = append(errs, s.servers[i].close(ctx))
		}
		if s.s3 != nil {
			errs = append(errs, s.s3.close())
		}
		if s.dynamo != nil {
			errs = append(errs, s.dynamo.stop())
		}
		if s.tempDir != "" {
			errs = append(errs, os.RemoveAll(s.tempDir))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
