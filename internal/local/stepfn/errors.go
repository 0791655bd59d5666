package stepfn

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Error names from the Amazon States Language and Step Functions.
const (
	ErrAll                  = "States.ALL"
	ErrTaskFailed           = "States.TaskFailed"
	ErrTimeout              = "States.Timeout"
	ErrRuntime              = "States.Runtime"
	ErrDataLimitExceeded    = "States.DataLimitExceeded"
	ErrNoChoiceMatched      = "States.NoChoiceMatched"
	ErrBranchFailed         = "States.BranchFailed"
	ErrIntrinsicFailure     = "States.IntrinsicFailure"
	ErrResultPathMatch      = "States.ResultPathMatchFailure"
	ErrParameterPath        = "States.ParameterPathFailure"
	ErrExceedToleratedFails = "States.ExceedToleratedFailureThreshold"
	ErrItemReaderFailed     = "States.ItemReaderFailed"
	ErrPermissions          = "States.Permissions"
	ErrHeartbeatTimeout     = "States.HeartbeatTimeout"
	ErrQueryEvaluation      = "States.QueryEvaluationError"
	// ErrExitError is what the Lambda runtime reports when the function
	// process dies (here: the handler panics).
	ErrExitError = "Runtime.ExitError"
)

// knownStatesErrors are the States.* names a Retrier or Catcher may list.
var knownStatesErrors = map[string]bool{
	ErrAll: true, ErrTaskFailed: true, ErrTimeout: true, ErrRuntime: true,
	ErrDataLimitExceeded: true, ErrNoChoiceMatched: true, ErrBranchFailed: true,
	ErrIntrinsicFailure: true, ErrResultPathMatch: true, ErrParameterPath: true,
	ErrExceedToleratedFails: true, ErrItemReaderFailed: true, ErrPermissions: true,
	ErrHeartbeatTimeout: true, ErrQueryEvaluation: true,
	"States.ResultWriterFailed": true, "States.Http.Socket": true,
}

// StateError is an error raised while running a state: Error is its name,
// matched by Retry and Catch, Cause the human-readable detail.
type StateError struct {
	Name  string
	Cause string
	// task marks errors raised by a Task's resource, which States.TaskFailed matches.
	task bool
}

func (e *StateError) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

// ErrorName lets a StateError travel through a handler unchanged.
func (e *StateError) ErrorName() string { return e.Name }

func stateErrorf(name, format string, args ...any) *StateError {
	return &StateError{Name: name, Cause: fmt.Sprintf(format, args...)}
}

// matches reports whether a Retrier's or Catcher's ErrorEquals entry
// matches err, per the spec: States.ALL matches every error but the terminal
// States.Runtime and States.DataLimitExceeded; States.TaskFailed matches any
// error a Task raised except States.Timeout.
func (e *StateError) matches(name string) bool {
	terminal := e.Name == ErrRuntime || e.Name == ErrDataLimitExceeded
	switch name {
	case ErrAll:
		return !terminal
	case ErrTaskFailed:
		return e.task && !terminal && e.Name != ErrTimeout || e.Name == ErrTaskFailed
	default:
		return name == e.Name
	}
}

// handlerError turns a handler's error into the error Step Functions
// reports for a Lambda function: the name from an ErrorName() method in the
// chain, else the Go Lambda runtime's convention (the error's type name);
// the Cause is the runtime's JSON error payload.
func handlerError(err error) *StateError {
	var named interface{ ErrorName() string }
	name := ""
	if errors.As(err, &named) {
		name = named.ErrorName()
	} else {
		t := reflect.TypeOf(err)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		name = t.Name()
	}
	if name == "" {
		name = "Error"
	}
	cause, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{err.Error(), name})
	return &StateError{Name: name, Cause: string(cause), task: true}
}

// validateErrorEquals applies the spec's rules to a Retrier or Catcher.
func validateErrorEquals(names []string, last bool) error {
	if len(names) == 0 {
		return errors.New("ErrorEquals must not be empty")
	}
	for _, n := range names {
		if n == ErrAll && (len(names) != 1 || !last) {
			return errors.New("States.ALL must appear alone in ErrorEquals, in the last Retrier or Catcher")
		}
		if strings.HasPrefix(n, "States.") && !knownStatesErrors[n] {
			return fmt.Errorf("unknown error name %q", n)
		}
	}
	return nil
}

// ExecutionError is the error of a FAILED or ABORTED execution.
type ExecutionError struct {
	Name  string
	Cause string
}

func (e *ExecutionError) Error() string { return "execution failed: " + e.Name + ": " + e.Cause }

// APIError is an error of the Step Functions API (StartExecution, ...),
// with the service's error code.
type APIError struct {
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }
