// Package e2ebench holds bulkprov's end-to-end benchmarks: CSV validation
// (speed against bare encoding/csv on the same file, peak heap by file
// size) and the whole local pipeline (rows/s against DynamoDB Local's bare
// transaction rate on the same stack, per-step handler throughput, billable
// requests per row). It has no code besides its benchmarks; `make bench`
// runs them and cmd/benchtable turns the output into BENCHMARKS.md's table.
package e2ebench
