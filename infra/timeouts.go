package main

import (
	"fmt"
	"os"

	"github.com/bulkprov/bulkprov/internal/local/stepfn"
)

// stepTimeouts reads each workflow step's Task TimeoutSeconds from the ASL
// file (the one source) and returns its Lambda function's timeout, keyed by
// substitution key. The Lambda ends first, so a Task that times out never
// leaves its function running a second copy's work next to the retry.
func stepTimeouts(aslFile string) (map[string]int, error) {
	def, err := os.ReadFile(aslFile)
	if err != nil {
		return nil, fmt.Errorf("read the state machine: %w", err)
	}
	tasks, err := stepfn.TaskTimeouts(def)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, key := range []string{subCreateRecords, subWriteProvisioning, subSendWelcome, subFinalize} {
		task, ok := tasks["${"+key+"}"]
		if !ok {
			return nil, fmt.Errorf("%s: no Task calls ${%s}", aslFile, key)
		}
		if out[key] = lambdaTimeout(task); out[key] < 1 {
			return nil, fmt.Errorf("%s: ${%s} has TimeoutSeconds %d, too short for a Lambda function", aslFile, key, task)
		}
	}
	return out, nil
}

// lambdaTimeout leaves a Task 10% (at least 5 s) more than its function:
// the invocation's own overhead (cold start, the Invoke round trip).
func lambdaTimeout(taskSeconds int) int {
	return taskSeconds - max(5, taskSeconds/10)
}
