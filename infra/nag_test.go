package main

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// testNag fails on any AwsSolutions finding that is not suppressed, and on
// a suppression without a real reason.
func testNag(t *testing.T, s *synthesized) {
	t.Run("cdk-nag AwsSolutions", func(t *testing.T) {
		ann := assertions.Annotations_FromStack(s.Stack)
		match := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
		for _, f := range *ann.FindError(jsii.String("*"), match) {
			//lint:ignore SA1019 aws-cdk-go exposes synthesis messages only through this deprecated cxapi type
			t.Errorf("nag error at %s: %.300v", *f.Id, f.Entry.Data)
		}
		for _, f := range *ann.FindWarning(jsii.String("*"), match) {
			//lint:ignore SA1019 aws-cdk-go exposes synthesis messages only through this deprecated cxapi type
			t.Errorf("nag warning at %s: %.300v", *f.Id, f.Entry.Data)
		}
		// Every suppression has a reason that says something.
		count := 0
		for id, r := range s.JSON["Resources"].(map[string]any) {
			meta, _ := r.(map[string]any)["Metadata"].(map[string]any)
			nag, _ := meta["cdk_nag"].(map[string]any)
			rules, _ := nag["rules_to_suppress"].([]any)
			for _, rule := range rules {
				rm := rule.(map[string]any)
				reason := nagReason(rm["reason"])
				count++
				if len(strings.Fields(reason)) < 8 {
					t.Errorf("%s: suppression of %v has no real reason: %q", id, rm["id"], reason)
				}
			}
		}
		if count == 0 {
			t.Error("found no suppressions in the template metadata; the reason check checked nothing")
		}
	})
}

// nagReason returns a suppression's reason; cdk-nag stores reasons with
// characters outside plain ASCII base64-encoded.
func nagReason(v any) string {
	s, _ := v.(string)
	if strings.Contains(s, " ") {
		return s
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && utf8.Valid(b) {
		return string(b)
	}
	return s
}
