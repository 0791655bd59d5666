// Command sip-lookup is the softswitch read path behind a Lambda function
// URL (internal/softswitch): a SIP server asks it per request for a phone's
// HA1, an extension's SIP user or a DID's inbound route, with a bearer token.
//
// Environment: TABLE_NAME, KMS_KEY_ID, SIP_LOOKUP_TOKEN_SHA256 (comma-separated
// hex SHA-256 of the accepted tokens; none set refuses every request),
// SIP_REALMS (optional platform-wide digest realms, comma-separated).
package main

import (
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/kmsc"
	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/softswitch"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	h := lambdaenv.Wire("sip-lookup", required, newHandler)
	lambda.Start(h.HandleFunctionURL)
}

// required are the resources the stack must set on this function.
var required = []string{"TABLE_NAME", "KMS_KEY_ID"}

// newHandler wires the handler from the environment.
func newHandler(e lambdaenv.Env) (*softswitch.Handler, error) {
	tokens, err := softswitch.ParseTokenHashes(e.Getenv("SIP_LOOKUP_TOKEN_SHA256"))
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		e.Log.Warn("sip-lookup: SIP_LOOKUP_TOKEN_SHA256 is empty: every request is refused (deploy with -c sipLookupTokenSha256=...)")
	}
	var realms []string
	for r := range strings.SplitSeq(e.Getenv("SIP_REALMS"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			realms = append(realms, r)
		}
	}
	return &softswitch.Handler{
		Resolver: &softswitch.Resolver{
			Dir:     store.New(ddbc.New(e.AWS, e.Endpoints), e.Table),
			Secrets: secrets.NewBox(kmsc.New(e.AWS, e.Endpoints), e.KMSKeyID),
			Realms:  realms,
		},
		Tokens: tokens,
		Logger: e.Log,
	}, nil
}
