package stepfn

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestItemReaderThroughS3(t *testing.T) {
	const bucket = "items"
	client := newS3(t, bucket)
	putObject(t, client, bucket, "rows.jsonl", []byte("{\"n\":1}\n\n{\"n\":2}\r\n{\"n\":3}"))
	putObject(t, client, bucket, "bad.jsonl", []byte("{\"n\":1}\n{\"n\":\n"))
	putObject(t, client, bucket, "rows.json", []byte(`[{"n":1},{"n":2}]`))
	putObject(t, client, bucket, "rows.csv", []byte("name,ext\nAnn,100\nBo,101\n"))
	putObject(t, client, bucket, "res/b1.json", []byte(`{}`))
	putObject(t, client, bucket, "res/b2.json", []byte(`{}`))
	putObject(t, client, bucket, "other/x.json", []byte(`{}`))

	distributed := func(reader, extra string) string {
		return `{"StartAt":"M","States":{"M":{"Type":"Map","ItemReader":` + reader + `,` + extra + `
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},"StartAt":"E","States":{"E":{"Type":"Task","Resource":"echo","TimeoutSeconds":60,"End":true}}},
			"Catch":[{"ErrorEquals":["States.ItemReaderFailed"],"Next":"C"}],"End":true},"C":{"Type":"Pass","End":true}}}`
	}
	get := func(key, typ, cfg string) string {
		return `{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"` + typ + `"` + cfg + `},"Parameters":{"Bucket.$":"$.bucket","Key":"` + key + `"}}`
	}
	tests := []struct {
		name, asl, want, wantCaught string
	}{
		{"JSONL skips blank lines and CRLF", distributed(get("rows.jsonl", "JSONL", ""), ""), `[{"n":1},{"n":2},{"n":3}]`, ""},
		{"JSONL MaxItems", distributed(get("rows.jsonl", "JSONL", `,"MaxItems":2`), ""), `[{"n":1},{"n":2}]`, ""},
		{"JSONL bad line names the line", distributed(get("bad.jsonl", "JSONL", ""), ""), "", "line 2"},
		{"missing object is ItemReaderFailed", distributed(get("nope.jsonl", "JSONL", ""), ""), "", "nope.jsonl"},
		{"JSON array", distributed(get("rows.json", "JSON", ""), ""), `[{"n":1},{"n":2}]`, ""},
		{"CSV with header row", distributed(get("rows.csv", "CSV", `,"CSVHeaderLocation":"FIRST_ROW"`), ""), `[{"name":"Ann","ext":"100"},{"name":"Bo","ext":"101"}]`, ""},
		{"listObjectsV2 with ItemSelector", distributed(`{"Resource":"arn:aws:states:::s3:listObjectsV2","Parameters":{"Bucket.$":"$.bucket","Prefix":"res/"}}`,
			`"ItemSelector":{"key.$":"$$.Map.Item.Value.Key","size.$":"$$.Map.Item.Value.Size","job.$":"$.job"},`),
			`[{"key":"res/b1.json","size":2,"job":"j"},{"key":"res/b2.json","size":2,"job":"j"}]`, ""},
		{"JSONL batched", distributed(get("rows.jsonl", "JSONL", ""), `"ItemBatcher":{"MaxItemsPerBatch":2},`),
			`[{"Items":[{"n":1},{"n":2}]},{"Items":[{"n":3}]}]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls sync.Map
			engine, err := Load([]byte(tt.asl), Options{Tasks: conformanceTasks(&calls), S3: client})
			if err != nil {
				t.Fatal(err)
			}
			defer engine.Close()
			out, err := engine.Run(context.Background(), "r", json.RawMessage(`{"bucket":"items","job":"j"}`))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantCaught == "" {
				jsonEq(t, out, tt.want)
				return
			}
			var caught struct{ Error, Cause string }
			if err := json.Unmarshal(out, &caught); err != nil || caught.Error != ErrItemReaderFailed || !strings.Contains(caught.Cause, tt.wantCaught) {
				t.Errorf("output = %s, want a caught States.ItemReaderFailed mentioning %q", out, tt.wantCaught)
			}
		})
	}
}

func TestStartNamesAndLifecycle(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	tasks := map[string]Handler{"wait": func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return in, nil
	}}
	engine, err := Load([]byte(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"wait","End":true}}}`), Options{Tasks: tasks})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	ctx := context.Background()
	x, err := engine.Start(ctx, "job1", json.RawMessage(`{"a": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if st := x.Describe().Status; st != StatusRunning {
		t.Errorf("status = %s, want RUNNING", st)
	}
	same, err := engine.Start(ctx, "job1", json.RawMessage(`{"a":1}`))
	if err != nil || same != x {
		t.Errorf("same name and input while running: %v, %v; want the running execution", same, err)
	}
	var api *APIError
	if _, err := engine.Start(ctx, "job1", json.RawMessage(`{"a":2}`)); !errors.As(err, &api) || api.Code != "ExecutionAlreadyExists" {
		t.Errorf("other input: err = %v, want ExecutionAlreadyExists", err)
	}
	if _, err := engine.Start(ctx, "bad name", nil); !errors.As(err, &api) || api.Code != "InvalidName" {
		t.Errorf("bad name: err = %v, want InvalidName", err)
	}
	if _, err := engine.Start(ctx, "job2", json.RawMessage(`{`)); !errors.As(err, &api) || api.Code != "InvalidExecutionInput" {
		t.Errorf("bad input: err = %v, want InvalidExecutionInput", err)
	}
	close(release)
	out, err := x.Wait(ctx)
	if err != nil || string(out) != `{"a":1}` {
		t.Fatalf("Wait = %s, %v", out, err)
	}
	if info := x.Describe(); info.Status != StatusSucceeded || info.StopDate.IsZero() {
		t.Errorf("after Wait: %+v", info)
	}
	// Step Functions refuses a finished execution's name even with the same input.
	if _, err := engine.Start(ctx, "job1", json.RawMessage(`{"a":1}`)); !errors.As(err, &api) || api.Code != "ExecutionAlreadyExists" {
		t.Errorf("finished: err = %v, want ExecutionAlreadyExists", err)
	}
}

func TestCloseAbortsRunningExecutions(t *testing.T) {
	tasks := map[string]Handler{"block": conformanceTasks(&sync.Map{})["block"]}
	engine, err := Load([]byte(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"block","End":true}}}`), Options{Tasks: tasks})
	if err != nil {
		t.Fatal(err)
	}
	x, err := engine.Start(context.Background(), "j", nil)
	if err != nil {
		t.Fatal(err)
	}
	engine.Close()
	if st := x.Describe().Status; st != StatusAborted {
		t.Errorf("status = %s, want ABORTED", st)
	}
}
