// Command infra is bulkprov's CDK app: `cdk synth` / `cdk deploy` run it
// through cdk.json ("app": "go run ./infra").
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		jsii.Close()
		os.Exit(1)
	}
}

func run() error {
	root, err := projectRoot()
	if err != nil {
		return err
	}
	app := awscdk.NewApp(nil)
	cfg, err := stageConfigFromContext(app.Node())
	if err != nil {
		return err
	}
	_, err = NewBulkprovStack(app, "Bulkprov-"+cfg.Stage, &StackProps{
		StackProps: awscdk.StackProps{
			Env:         environment(),
			Description: jsii.String("bulkprov " + cfg.Stage + ": bulk PBX user onboarding"),
			Tags:        &map[string]*string{"project": jsii.String("bulkprov"), "stage": jsii.String(cfg.Stage)},
		},
		Config: cfg,
		Paths:  defaultPaths(root),
	})
	if err != nil {
		return err
	}
	// cdk-nag runs on every synth; with annotationsInValidationReport
	// (cdk.json) an unsuppressed finding fails the synth.
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
	return nil
}

// environment binds the stack to the account and region the CLI resolved
// from the credentials; without them (offline synth) the stack stays
// environment-agnostic.
func environment() *awscdk.Environment {
	account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION")
	if account == "" || region == "" {
		return nil
	}
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}

// defaultPaths are the asset locations inside the repository.
func defaultPaths(root string) Paths {
	return Paths{
		LambdaAssetDir:    filepath.Join(root, "bin", "lambda"),
		StateMachineFile:  filepath.Join(root, "infra", "statemachine", "bulkprov.asl.json"),
		ViewerRequestCode: filepath.Join(root, "infra", "cloudfront", "provisioning-auth.js"),
		RefusalBodyFile:   filepath.Join(root, "infra", "cloudfront", "errors", "401.txt"),
		PortalSiteDir:     filepath.Join(root, "web", "portal", "static"),
	}
}

// projectRoot is the folder holding cdk.json, searched upwards from the
// working directory (cdk runs the app at the root, go test inside infra/).
func projectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("project root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "cdk.json")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("project root: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("project root: no cdk.json in the working directory or above it")
		}
		dir = parent
	}
}
