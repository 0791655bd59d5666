package stepfn

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/bulkprov/bulkprov/internal/awsconf"
)

func TestServerWithTheRealSFNClient(t *testing.T) {
	engine, err := Load([]byte(`{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.fail","BooleanEquals":true,"Next":"F"}],"Default":"T"},
		"T":{"Type":"Task","Resource":"echo","End":true},"F":{"Type":"Fail","Error":"Job.Bad","Cause":"asked to fail"}}}`),
		Options{Tasks: conformanceTasks(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	srv := httptest.NewServer(NewServer(engine))
	defer srv.Close()
	ctx := context.Background()
	clients, err := awsconf.New(ctx, awsconf.Endpoints{SFN: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c := clients.SFN
	machine := aws.String(engine.StateMachineARN())

	start, desc := runThroughSFN(t, c, engine, "job-1", `{"fail":false,"v":1}`)
	if got, want := aws.ToString(start.ExecutionArn), "arn:aws:states:us-east-1:000000000000:execution:bulkprov:job-1"; got != want {
		t.Errorf("executionArn = %s, want %s", got, want)
	}
	if start.StartDate == nil || time.Since(*start.StartDate) > time.Minute {
		t.Errorf("startDate = %v", start.StartDate)
	}
	if desc.Status != types.ExecutionStatusSucceeded || aws.ToString(desc.Output) != `{"fail":false,"v":1}` || desc.StopDate == nil || aws.ToString(desc.Name) != "job-1" {
		t.Errorf("describe = status %s output %s stop %v", desc.Status, aws.ToString(desc.Output), desc.StopDate)
	}

	// The duplicate-event path: same name, finished → ExecutionAlreadyExists.
	_, err = c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: machine, Name: aws.String("job-1"), Input: aws.String(`{"fail":false,"v":1}`)})
	var exists *types.ExecutionAlreadyExists
	if !errors.As(err, &exists) {
		t.Errorf("second start: err = %v, want *types.ExecutionAlreadyExists", err)
	}

	_, desc = runThroughSFN(t, c, engine, "job-2", `{"fail":true}`)
	if desc.Status != types.ExecutionStatusFailed || aws.ToString(desc.Error) != "Job.Bad" || aws.ToString(desc.Cause) != "asked to fail" {
		t.Errorf("failed describe = %s %s %s", desc.Status, aws.ToString(desc.Error), aws.ToString(desc.Cause))
	}

	list, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: machine, StatusFilter: types.ExecutionStatusFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Executions) != 1 || aws.ToString(list.Executions[0].Name) != "job-2" {
		t.Errorf("list FAILED = %+v", list.Executions)
	}
	page, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: machine, MaxResults: 1})
	if err != nil || len(page.Executions) != 1 || page.NextToken == nil {
		t.Errorf("paged list = %+v, %v", page, err)
	}
	checkSFNErrors(t, c, engine)
}

// runThroughSFN starts an execution through the sfn client, waits for its
// end and describes it.
func runThroughSFN(t *testing.T, c *sfn.Client, engine *Engine, name, input string) (*sfn.StartExecutionOutput, *sfn.DescribeExecutionOutput) {
	t.Helper()
	ctx := context.Background()
	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(engine.StateMachineARN()), Name: aws.String(name), Input: aws.String(input)})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := engine.Execution(name)
	_, _ = x.Wait(ctx) // a failed execution is described below
	desc, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: start.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	return start, desc
}

// checkSFNErrors checks the typed errors the sfn client gets: an unknown
// execution, another state machine, input that is not JSON.
func checkSFNErrors(t *testing.T, c *sfn.Client, engine *Engine) {
	t.Helper()
	ctx := context.Background()
	_, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(engine.ExecutionARN("nope"))})
	var missing *types.ExecutionDoesNotExist
	if !errors.As(err, &missing) {
		t.Errorf("describe unknown: err = %v, want ExecutionDoesNotExist", err)
	}
	_, err = c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:other"), Input: aws.String(`{}`)})
	var noMachine *types.StateMachineDoesNotExist
	if !errors.As(err, &noMachine) {
		t.Errorf("other machine: err = %v, want StateMachineDoesNotExist", err)
	}
	_, err = c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(engine.StateMachineARN()), Name: aws.String("job-3"), Input: aws.String(`{nope`)})
	var badInput *types.InvalidExecutionInput
	if !errors.As(err, &badInput) {
		t.Errorf("bad input: err = %v, want InvalidExecutionInput", err)
	}
}
