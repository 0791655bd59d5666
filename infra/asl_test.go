package main

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"testing"

	"github.com/bulkprov/bulkprov/internal/local/stepfn"
)

// CloudFormation leaves an unknown ${X} in the definition silently, so the
// ASL file's placeholders and the stack's substitutions must be the same set.
func TestASLPlaceholdersAreSubstituted(t *testing.T) {
	s := synth(t, "dev", nil)
	asl, err := os.ReadFile(s.Paths.StateMachineFile)
	if err != nil {
		t.Fatalf("read the ASL file the stack deploys: %v", err)
	}
	placeholders := map[string]bool{}
	for _, match := range regexp.MustCompile(`\$\{([^}]*)\}`).FindAllSubmatch(asl, -1) {
		placeholders[string(match[1])] = true
	}
	_, sm := s.resource(t, "AWS::StepFunctions::StateMachine", "Workflow")
	subs := props(sm)["DefinitionSubstitutions"].(map[string]any)

	inFile, inStack := sortedKeys(placeholders), sortedKeys(subs)
	if !reflect.DeepEqual(inFile, inStack) {
		t.Errorf("ASL placeholders %v, stack substitutions %v: they must match", inFile, inStack)
	}
	want := []string{subCreateRecords, subFinalize, subSendWelcome, subWriteProvisioning}
	sort.Strings(want)
	if !reflect.DeepEqual(inStack, want) {
		t.Errorf("substitutions %v, want %v", inStack, want)
	}
}

// TestLambdaTimeoutsComeFromTheirTasks reads the ASL file and the
// synthesized template: every function a Task calls has a Lambda timeout
// below the Task's TimeoutSeconds (derived from it, the one source), so a
// Task never times out while its Lambda still runs.
func TestLambdaTimeoutsComeFromTheirTasks(t *testing.T) {
	s := synth(t, "dev", nil)
	asl, err := os.ReadFile(s.Paths.StateMachineFile)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := stepfn.TaskTimeouts(asl)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{subCreateRecords: "CreateRecords", subWriteProvisioning: "WriteProvisioning", subSendWelcome: "SendWelcome", subFinalize: "Finalize"}
	if len(tasks) != len(ids) {
		t.Fatalf("Tasks call %v, want the four step functions", tasks)
	}
	for key, id := range ids {
		task := tasks["${"+key+"}"]
		_, fn := s.resource(t, "AWS::Lambda::Function", id)
		lambda := int(props(fn)["Timeout"].(float64))
		if lambda >= task || lambda != lambdaTimeout(task) {
			t.Errorf("%s: Lambda timeout %d s, Task TimeoutSeconds %d s: want %d (below the Task)", id, lambda, task, lambdaTimeout(task))
		}
	}
}
