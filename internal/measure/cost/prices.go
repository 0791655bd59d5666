package cost

import "time"

// Prices are AWS public list prices in USD for one region. The cost model
// reads every price from here, so updating prices is a one-file change.
type Prices struct {
	Region string
	// Date is when the prices were checked; Source where.
	Date   string
	Source string

	SFNStandardPerTransition float64 // Standard workflows: each state entered, retries included
	SFNExpressPerRequest     float64 // Express workflows: each execution started
	SFNExpressPerGBSecond    float64 // Express duration, first tier (first 1,000 GB-hours a month)
	// Express duration is rounded up to ExpressDurationStep and memory is
	// billed in chunks of ExpressMemoryChunkMB (≥ 50 MB base, so at least one).
	ExpressDurationStep  time.Duration
	ExpressMemoryChunkMB int

	LambdaPerRequest       float64
	LambdaArm64PerGBSecond float64
	LambdaDurationStep     time.Duration // Lambda bills duration rounded up to 1 ms
	DynamoDBPerWriteUnit   float64       // on-demand write request unit
	DynamoDBPerReadUnit    float64       // on-demand read request unit
	S3PerWriteRequest      float64       // PUT, COPY, POST, LIST (Standard)
	S3PerReadRequest       float64       // GET, HEAD and all other requests (Standard)
	SESPerEmail            float64       // outbound email, no attachments
	KMSPerRequest          float64       // symmetric key API requests
}

// ListPrices returns the us-east-1 list prices the model uses. Checked on
// 2026-11-28 against the public pricing pages (and the 2024-11-01 DynamoDB
// on-demand price cut of 50%); free tiers are ignored on purpose, the model
// prices the marginal job of an operator who has used them up.
func ListPrices() Prices {
	return Prices{
		Region: "us-east-1",
		Date:   "2026-11-28",
		Source: "aws.amazon.com/{step-functions,lambda,dynamodb,s3,ses,kms}/pricing (us-east-1 list prices)",

		SFNStandardPerTransition: 0.025 / 1_000,
		SFNExpressPerRequest:     1.00 / 1_000_000,
		SFNExpressPerGBSecond:    0.00001667,
		ExpressDurationStep:      100 * time.Millisecond,
		ExpressMemoryChunkMB:     64,

		LambdaPerRequest:       0.20 / 1_000_000,
		LambdaArm64PerGBSecond: 0.0000133334,
		LambdaDurationStep:     time.Millisecond,
		DynamoDBPerWriteUnit:   0.625 / 1_000_000,
		DynamoDBPerReadUnit:    0.125 / 1_000_000,
		S3PerWriteRequest:      0.005 / 1_000,
		S3PerReadRequest:       0.0004 / 1_000,
		SESPerEmail:            0.10 / 1_000,
		KMSPerRequest:          0.03 / 10_000,
	}
}
