// Package reliability holds bulkprov's fault-injection and abuse suite
// (issue #12). It has no production code: its tests start one local
// pipeline (internal/local/localrun: the embedded S3, DynamoDB Local, SES and KMS
// endpoints, the local Step Functions engine on the deployed ASL file and
// the handlers wired as in Lambda) and break it on purpose:
//
//   - crashes (panic, timeout) before, during and after each step's side
//     effects, injected by wrapping the task handlers (localrun.Config.Wrap)
//     and, for "during", by cancelling the invocation right after its k-th
//     AWS call of a given operation;
//   - service faults at the SDK's HTTP layer (a Deserialize middleware
//     answers in place of the endpoint: DynamoDB throttling, S3 5xx on
//     provisioning PUTs, with or without the write having happened), so the
//     SDK's retryer and the handlers see them as they would from AWS;
//   - duplicate, out-of-order and re-versioned S3 events; SES throttling and
//     rejected recipients; finalize run twice;
//   - hostile uploads, cross-tenant requests and secret leaks.
//
// Each faulted run is compared with a clean run of the same file shape on
// another tenant: the table, the provisioning bucket, the outbox and the
// report must match once tenant-specific names are normalized. See
// RELIABILITY.md at the repository root for the list of cases and results.
package reliability
