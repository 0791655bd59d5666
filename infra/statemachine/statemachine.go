// Package statemachine embeds the workflow's Amazon States Language file, so
// the local engine runs the very definition CDK deploys.
package statemachine

import _ "embed"

//go:embed bulkprov.asl.json
var definition []byte

// Definition returns a copy of bulkprov.asl.json, placeholders unsubstituted.
func Definition() []byte { return append([]byte(nil), definition...) }

// Placeholder substitution keys, as CDK's DefinitionSubstitutions names them.
const (
	CreateRecordsFunctionArn     = "CreateRecordsFunctionArn"
	WriteProvisioningFunctionArn = "WriteProvisioningFunctionArn"
	SendWelcomeFunctionArn       = "SendWelcomeFunctionArn"
	FinalizeFunctionArn          = "FinalizeFunctionArn"
)
