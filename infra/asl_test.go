package main

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"testing"
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
