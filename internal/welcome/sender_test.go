package welcome

import (
	"context"
	"errors"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

func httpError(status int, err error) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err,
	}}
}

func TestClassifySendError(t *testing.T) {
	api := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	for _, tc := range []struct {
		name string
		err  error
		kind int
		code string
	}{
		{"modeled throttling", &types.TooManyRequestsException{}, sendRefused, pbx.CodeThrottled},
		{"limit exceeded", &types.LimitExceededException{}, sendRefused, pbx.CodeThrottled},
		{"bare 429", httpError(429, errors.New("slow down")), sendRefused, pbx.CodeThrottled},
		{"rejected", httpError(400, api("MessageRejected")), sendRefused, pbx.CodeEmailRejected},
		{"domain not verified", api("MailFromDomainNotVerifiedException"), sendRefused, pbx.CodeEmailRejected},
		{"bad request", httpError(400, api("BadRequestException")), sendRefused, pbx.CodeEmailRejected},
		{"other 4xx", httpError(403, api("AccessDenied")), sendRefused, pbx.CodeEmailRejected},
		{"suspended", api("AccountSuspendedException"), sendBlocked, pbx.CodeEmailRejected},
		{"paused", api("SendingPausedException"), sendBlocked, pbx.CodeEmailRejected},
		{"server error", httpError(500, api("InternalFailure")), sendUncertain, pbx.CodeEmailUncertain},
		{"connection reset", errors.New("read: connection reset by peer"), sendUncertain, pbx.CodeEmailUncertain},
		{"deadline during the call", context.DeadlineExceeded, sendUncertain, pbx.CodeEmailUncertain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			se := classifySendError(tc.err)
			if se.kind != tc.kind || se.code != tc.code || se.message == "" {
				t.Fatalf("got kind %d code %s (%q), want kind %d code %s", se.kind, se.code, se.message, tc.kind, tc.code)
			}
			if !errors.Is(se, tc.err) {
				t.Fatal("the cause is not wrapped")
			}
		})
	}
}
