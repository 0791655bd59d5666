package stepfn

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// NewServer serves the Step Functions API's JSON 1.0 protocol
// (X-Amz-Target: AWSStepFunctions.<Action>) for StartExecution,
// DescribeExecution, ListExecutions and StopExecution, so that code built on
// the real sfn.Client runs against the engine. Executions it starts run
// until they stop or the engine is closed, not for the request's lifetime.
func NewServer(engine *Engine) http.Handler {
	return &server{e: engine}
}

type server struct{ e *Engine }

const maxRequestBytes = 1 << 20 // StartExecution input is capped at 256 KiB anyway

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeAPIError(w, http.StatusMethodNotAllowed, &APIError{Code: "UnknownOperationException", Message: "POST only"})
		return
	}
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	if !ok {
		writeAPIError(w, http.StatusBadRequest, &APIError{Code: "UnknownOperationException", Message: "missing or unknown X-Amz-Target"})
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	out, err := s.call(r.Context(), action, dec)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		writeAPIError(w, http.StatusBadRequest, apiErr)
		return
	case err != nil:
		writeAPIError(w, http.StatusBadRequest, &APIError{Code: "ValidationException", Message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

// call decodes the action's request and runs it.
func (s *server) call(ctx context.Context, action string, dec *json.Decoder) (out any, err error) {
	switch action {
	case "StartExecution":
		var in struct {
			StateMachineArn string `json:"stateMachineArn"`
			Name            string `json:"name"`
			Input           string `json:"input"`
			TraceHeader     string `json:"traceHeader"`
		}
		if err = dec.Decode(&in); err == nil {
			out, err = s.start(ctx, in.StateMachineArn, in.Name, in.Input)
		}
	case "DescribeExecution":
		var in struct {
			ExecutionArn string `json:"executionArn"`
		}
		if err = dec.Decode(&in); err == nil {
			out, err = s.describe(in.ExecutionArn)
		}
	case "StopExecution":
		var in struct {
			ExecutionArn string `json:"executionArn"`
		}
		if err = dec.Decode(&in); err == nil {
			out, err = s.stopExecution(in.ExecutionArn)
		}
	case "ListExecutions":
		var in struct {
			StateMachineArn string `json:"stateMachineArn"`
			StatusFilter    string `json:"statusFilter"`
			MaxResults      int    `json:"maxResults"`
			NextToken       string `json:"nextToken"`
		}
		if err = dec.Decode(&in); err == nil {
			out, err = s.list(in.StateMachineArn, in.StatusFilter, in.MaxResults, in.NextToken)
		}
	default:
		return nil, &APIError{Code: "UnknownOperationException", Message: "unsupported action " + action}
	}
	return out, err
}

func writeAPIError(w http.ResponseWriter, status int, e *APIError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
}

// epoch is a timestamp as the JSON protocol sends it: seconds since the epoch.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(t).UnixMilli())/1000, 'f', 3, 64)), nil
}

func (s *server) checkMachine(arn string) error {
	if arn != s.e.StateMachineARN() {
		return &APIError{Code: "StateMachineDoesNotExist", Message: fmt.Sprintf("State Machine Does Not Exist: '%s'", arn)}
	}
	return nil
}

func (s *server) start(ctx context.Context, machineARN, name, input string) (any, error) {
	if err := s.checkMachine(machineARN); err != nil {
		return nil, err
	}
	if name == "" {
		name = newUUID()
	}
	x, err := s.e.Start(context.WithoutCancel(ctx), name, json.RawMessage(input))
	if err != nil {
		return nil, err
	}
	info := x.Describe()
	return struct {
		ExecutionArn string `json:"executionArn"`
		StartDate    epoch  `json:"startDate"`
	}{info.ARN, epoch(info.StartDate)}, nil
}

func (s *server) execution(arn string) (*Execution, error) {
	prefix := s.e.ExecutionARN("")
	name, ok := strings.CutPrefix(arn, prefix)
	if ok {
		if x, found := s.e.Execution(name); found {
			return x, nil
		}
	}
	return nil, &APIError{Code: "ExecutionDoesNotExist", Message: fmt.Sprintf("Execution Does Not Exist: '%s'", arn)}
}

type executionJSON struct {
	ExecutionArn    string `json:"executionArn"`
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	StartDate       epoch  `json:"startDate"`
	StopDate        *epoch `json:"stopDate,omitempty"`
	Input           string `json:"input,omitempty"`
	Output          string `json:"output,omitempty"`
	Error           string `json:"error,omitempty"`
	Cause           string `json:"cause,omitempty"`
}

func (s *server) toJSON(info ExecutionInfo, full bool) executionJSON {
	out := executionJSON{ExecutionArn: info.ARN, StateMachineArn: s.e.StateMachineARN(), Name: info.Name, Status: info.Status, StartDate: epoch(info.StartDate)}
	if !info.StopDate.IsZero() {
		stop := epoch(info.StopDate)
		out.StopDate = &stop
	}
	if full {
		out.Input, out.Output, out.Error, out.Cause = string(info.Input), string(info.Output), info.Error, info.Cause
	}
	return out
}

func (s *server) describe(arn string) (any, error) {
	x, err := s.execution(arn)
	if err != nil {
		return nil, err
	}
	return s.toJSON(x.Describe(), true), nil
}

func (s *server) stopExecution(arn string) (any, error) {
	x, err := s.execution(arn)
	if err != nil {
		return nil, err
	}
	x.Stop()
	return struct {
		StopDate epoch `json:"stopDate"`
	}{epoch(x.Describe().StopDate)}, nil
}

func (s *server) list(machineARN, status string, maxResults int, token string) (any, error) {
	if err := s.checkMachine(machineARN); err != nil {
		return nil, err
	}
	if maxResults <= 0 || maxResults > 1000 {
		maxResults = 100
	}
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 {
			return nil, &APIError{Code: "InvalidToken", Message: "invalid nextToken"}
		}
		start = n
	}
	var all []executionJSON
	for _, x := range s.e.Executions() {
		info := x.Describe()
		if status == "" || status == info.Status {
			all = append(all, s.toJSON(info, false))
		}
	}
	out := struct {
		Executions []executionJSON `json:"executions"`
		NextToken  string          `json:"nextToken,omitempty"`
	}{Executions: []executionJSON{}}
	if start < len(all) {
		end := min(start+maxResults, len(all))
		out.Executions = all[start:end]
		if end < len(all) {
			out.NextToken = strconv.Itoa(end)
		}
	}
	return out, nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
