package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"
)

// prodWarmWriteUnitsPerSecond pre-warms the prod stage's on-demand table:
// a new table absorbs 4,000 write units per second before it scales, so
// the first large upload (≈ 8 WRU per user) would need ≈ 20 s for 10,000
// users however many Lambdas run; at 12,000 it needs ≈ 7 s. Warm throughput
// is a one-time charge (not a provisioned rate), and on-demand billing
// stays per request. cost.ProdWarmWriteUnitsPerSecond models the same
// figure (a test keeps the two equal). Dev tables stay unwarmed: nobody
// uploads 10,000 users there.
const prodWarmWriteUnitsPerSecond = 12000

// tableWarmThroughput is the table's warm throughput for the stage, nil
// when it is not pre-warmed.
func tableWarmThroughput(cfg StageConfig) *awsdynamodb.WarmThroughput {
	if !cfg.Prod() {
		return nil
	}
	// 12,000 reads per second is the minimum DynamoDB accepts (and what a
	// new on-demand table has anyway).
	return &awsdynamodb.WarmThroughput{
		ReadUnitsPerSecond:  jsii.Number(12000),
		WriteUnitsPerSecond: jsii.Number(prodWarmWriteUnitsPerSecond),
	}
}
