// Command sip-lookup is the softswitch read path behind a Lambda function
// URL (internal/softswitch): a SIP server asks it per request for a phone's
// HA1, an extension's SIP user or a DID's inbound route, with a bearer token.
//
// Environment: TABLE_NAME, KMS_KEY_ID, SIP_LOOKUP_TOKEN_SHA256 (comma-separated
// hex SHA-256 of the accepted tokens; none set refuses every request),
// SIP_REALMS (optional platform-wide digest realms, comma-separated).
package main

import (
	"context"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/pipeline"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/softswitch"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	log := pipeline.LambdaLogger(os.Getenv)
	res := pipeline.ResourcesFromEnv(os.Getenv)
	if err := res.Require("TABLE_NAME", "KMS_KEY_ID"); err != nil {
		log.Error("sip-lookup: start", "error", err)
		os.Exit(1)
	}
	tokens, err := softswitch.ParseTokenHashes(os.Getenv("SIP_LOOKUP_TOKEN_SHA256"))
	if err != nil {
		log.Error("sip-lookup: start", "error", err)
		os.Exit(1)
	}
	if len(tokens) == 0 {
		log.Warn("sip-lookup: SIP_LOOKUP_TOKEN_SHA256 is empty: every request is refused (deploy with -c sipLookupTokenSha256=...)")
	}
	clients, err := pipeline.Clients(context.Background())
	if err != nil {
		log.Error("sip-lookup: start", "error", err)
		os.Exit(1)
	}
	var realms []string
	for r := range strings.SplitSeq(os.Getenv("SIP_REALMS"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			realms = append(realms, r)
		}
	}
	h := &softswitch.Handler{
		Resolver: &softswitch.Resolver{
			Dir:     store.New(clients.DynamoDB, res.Table),
			Secrets: secrets.NewBox(clients.KMS, res.KMSKeyID),
			Realms:  realms,
		},
		Tokens: tokens,
		Logger: log,
	}
	lambda.Start(h.HandleFunctionURL)
}
