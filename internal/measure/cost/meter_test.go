package cost

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/infra/statemachine"
	"github.com/bulkprov/bulkprov/internal/local/stepfn"
)

func str(n int) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: strings.Repeat("x", n)}
}

func TestMeterUnits(t *testing.T) {
	tests := []struct {
		name          string
		params        any
		result        any
		write, transw float64
		read          float64
		objects, puts int
	}{
		{"transaction: small put, 1.5 KB put, update, condition check",
			&dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{Item: map[string]types.AttributeValue{"PK": str(10)}}},
				{Put: &types.Put{Item: map[string]types.AttributeValue{"PK": str(1534)}}},
				{Update: &types.Update{}},
				{ConditionCheck: &types.ConditionCheck{}},
			}}, nil, 2 + 4 + 2, 8, 2, 2, 0},
		{"put item 1 KB + 1 byte", &dynamodb.PutItemInput{Item: map[string]types.AttributeValue{"a": str(1024)}}, nil, 2, 0, 0, 0, 0},
		{"update item", &dynamodb.UpdateItemInput{}, nil, 1, 0, 0, 0, 0},
		{"two PartiQL updates", &dynamodb.BatchExecuteStatementInput{Statements: []types.BatchStatementRequest{
			{Statement: aws.String(`UPDATE "t" SET a = ? WHERE PK = ?`)}, {Statement: aws.String(` update "t" REMOVE a WHERE PK = ?`)}}},
			nil, 2, 0, 0, 0, 0},
		{"get item, eventually consistent, missing", &dynamodb.GetItemInput{}, &dynamodb.GetItemOutput{}, 0, 0, 0.5, 0, 0},
		{"get item, consistent, 5 KB", &dynamodb.GetItemInput{ConsistentRead: aws.Bool(true)},
			&dynamodb.GetItemOutput{Item: map[string]types.AttributeValue{"a": str(5000)}}, 0, 0, 2, 0, 0},
		{"batch get: 3 keys, one 9 KB item back",
			&dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"t": {Keys: make([]map[string]types.AttributeValue, 3)}}},
			&dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{"t": {{"a": str(9000)}}}},
			0, 0, 1.5 + 1, 0, 0},
		{"query 10 KB consistent", &dynamodb.QueryInput{ConsistentRead: aws.Bool(true)},
			&dynamodb.QueryOutput{Items: []map[string]types.AttributeValue{{"a": str(5000)}, {"a": str(5000)}}}, 0, 0, 3, 0, 0},
		{"s3 put", &s3.PutObjectInput{Bucket: aws.String("prov")}, nil, 0, 0, 0, 0, 1},
		{"other", &s3.GetObjectInput{}, nil, 0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Meter{}
			m.record(tt.params, tt.result)
			got := m.Snapshot()
			if got.WriteUnits != tt.write || got.TransactWriteUnits != tt.transw || got.ReadUnits != tt.read || got.S3Puts["prov"] != tt.puts || got.TransactPutItems != tt.objects {
				t.Errorf("got write %v (transactional %v) read %v objects %d puts %v; want %v (%v) %v %d %v",
					got.WriteUnits, got.TransactWriteUnits, got.ReadUnits, got.TransactPutItems, got.S3Puts, tt.write, tt.transw, tt.read, tt.objects, tt.puts)
			}
		})
	}
}

func TestTrackerTransitions(t *testing.T) {
	def, err := parseDefinition(statemachine.Definition())
	if err != nil {
		t.Fatal(err)
	}
	if !def.topTasks["Finalize"] || !def.topMaps["CreateUsers"] || !def.topMaps["SendWelcomeEmails"] || def.unobserved != 3 {
		t.Fatalf("definition read as %+v", def)
	}
	if got := def.mapKeys["CreateUsers"]; len(got) != 2 {
		t.Fatalf("CreateUsers child tasks %v", got)
	}
	tr := newTracker(def)
	for _, ev := range []stepfn.Event{
		{Type: stepfn.EventExecutionStarted},
		{Type: stepfn.EventMapStarted, State: "CreateUsers"},
		{Type: stepfn.EventTaskSucceeded, State: "CreateRecords"}, // child: not a parent transition
		{Type: stepfn.EventMapIterationDone, State: "CreateUsers"},
		{Type: stepfn.EventMapIterationDone, State: "CreateUsers"},
		{Type: stepfn.EventMapSucceeded, State: "CreateUsers"},
		{Type: stepfn.EventMapStarted, State: "SendWelcomeEmails"},
		{Type: stepfn.EventMapIterationFailed, State: "SendWelcomeEmails"},
		{Type: stepfn.EventTaskRetrying, State: "Finalize"},
		{Type: stepfn.EventTaskSucceeded, State: "Finalize"},
	} {
		tr.event(ev)
	}
	tr.record(statemachine.CreateRecordsFunctionArn, 300*time.Millisecond)
	tr.record(statemachine.WriteProvisioningFunctionArn, 100*time.Millisecond)
	var u Usage
	tr.fill(&u)
	// Prepare + WelcomeWanted + Done + 2 Maps + Finalize twice (one retry).
	if u.StandardTransitions != 7 {
		t.Errorf("%d transitions, want 7", u.StandardTransitions)
	}
	if len(u.Express) != 2 || u.Express[0].Map != "CreateUsers" || u.Express[0].Executions != 2 ||
		u.Express[0].Duration != 400*time.Millisecond || u.Express[1].Executions != 1 {
		t.Errorf("express %+v", u.Express)
	}
	if len(u.Functions) != 2 || u.Functions[0].Name != "create-records" || u.Functions[0].MemoryMiB != 512 {
		t.Errorf("functions %+v", u.Functions)
	}
}

// A small job through the real local pipeline: every row created, the
// calls the model prices were seen, and the billable requests per row stay
// within the budget.
func TestMeasureLocalPipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	u, err := Measure(ctx, MeasureConfig{Rows: 60, SESMaxSendRate: 1000, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// 20 phones' files, and each of the 2 batches writes the Yealink T54W's
	// bootstrap (common) file once: 22 PUTs to the provisioning bucket.
	const phoneFiles = 20 + 2
	if u.Emails != 60 || u.ProvisioningFiles != phoneFiles {
		t.Errorf("%d emails, %d phone files; want 60, %d", u.Emails, u.ProvisioningFiles, phoneFiles)
	}
	// Each row is an EXT# and a SECRET# item (plus DID and MAC owners).
	if u.Calls["DynamoDB.TransactWriteItems"] == 0 || u.ObjectsWritten < 2*60 || u.DynamoDBWriteUnits < 2*float64(u.ObjectsWritten) {
		t.Errorf("DynamoDB: %d transactions, %d objects, %v write units", u.Calls["DynamoDB.TransactWriteItems"], u.ObjectsWritten, u.DynamoDBWriteUnits)
	}
	if u.PBXObjects != 6*60+3*30+phoneFiles || u.ItemWrites < u.ObjectsWritten || u.Phase1WriteUnits <= 0 || u.Phase1WriteUnits >= u.DynamoDBWriteUnits {
		t.Errorf("%d PBX objects (want %d), %d item writes, %v of %v write units in phase 1", u.PBXObjects, 6*60+3*30+phoneFiles, u.ItemWrites, u.Phase1WriteUnits, u.DynamoDBWriteUnits)
	}
	// 60 rows in batches of 50: two children per Map.
	// Phase 1 EXPRESS (2 Tasks per child), phase 2 STANDARD (1 Task per child).
	if len(u.Express) != 2 || u.Express[0].Executions != 2 || u.Express[1].Executions != 2 ||
		u.Express[0].Type != "EXPRESS" || u.Express[0].Transitions != 4 || u.Express[1].Type != "STANDARD" || u.Express[1].Transitions != 2 {
		t.Errorf("express %+v", u.Express)
	}
	if u.StandardTransitions != 6 {
		t.Errorf("%d transitions, want 6 (Prepare, CreateUsers, WelcomeWanted, SendWelcomeEmails, Finalize, Done)", u.StandardTransitions)
	}
	names := map[string]int{}
	for _, f := range u.Functions {
		names[f.Name] = f.Invocations
	}
	if names["ingest"] != 1 || names["create-records"] != 2 || names["write-provisioning"] != 2 || names["send-welcome"] != 2 || names["finalize"] != 1 {
		t.Errorf("invocations %v", names)
	}
	if e := ListPrices().Estimate(u, 60); e.CallsPerRow > 3 {
		t.Errorf("%.2f billable requests per row, budget 3", e.CallsPerRow)
	}
}
