package devstack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// pair times op against base, alternating, and reports both and their ratio.
func pair(b *testing.B, name string, base, op func(i int) error) {
	var tBase, tOp time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if err := base(i); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		tBase += t1.Sub(t0)
		tOp += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(tBase.Nanoseconds())/n, "base-ns/op")
	b.ReportMetric(float64(tOp.Nanoseconds())/n, name+"-ns/op")
	b.ReportMetric(float64(tOp)/float64(tBase), name+"/base")
}

// The event hook's cost: PUT to a watched prefix (MD5, event, delivery to a
// no-op handler) against a PUT to an unwatched bucket.
func BenchmarkS3PutWithEvent(b *testing.B) {
	ctx := context.Background()
	stack.SetUploadHandler(func(context.Context, events.S3Event) error { return nil })
	defer stack.SetUploadHandler(nil)
	body := strings.Repeat("100,Ann,Lee,ann@acme.example\n", 40) // ~1 KiB
	put := func(bucket, prefix string) func(int) error {
		return func(i int) error {
			_, err := stack.Clients.S3.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("%sbench/%d.csv", prefix, i)), Body: strings.NewReader(body),
			})
			return err
		}
	}
	pair(b, "event", put(stack.JobsBucket, "jobs/"), put(stack.UploadsBucket, "tenants/"))
	if err := stack.WaitIdle(ctx); err != nil {
		b.Fatal(err)
	}
}

// SendEmail (MIME build + .eml write) against GetAccount (a bare round trip).
func BenchmarkSESSend(b *testing.B) {
	ctx := context.Background()
	pair(b, "send",
		func(int) error { _, err := stack.Clients.SES.GetAccount(ctx, &sesv2.GetAccountInput{}); return err },
		func(int) error { _, err := stack.Clients.SES.SendEmail(ctx, simple("ann@acme.example")); return err })
}

// GenerateDataKey against DescribeKey (a round trip without crypto).
func BenchmarkKMSGenerateDataKey(b *testing.B) {
	ctx := context.Background()
	ec := map[string]string{"tenant": "acme", "endpoint": "100-acme"}
	pair(b, "datakey",
		func(int) error {
			_, err := stack.Clients.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(stack.KMSKeyID)})
			return err
		},
		func(int) error {
			_, err := stack.Clients.KMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(stack.KMSKeyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
			return err
		})
}
