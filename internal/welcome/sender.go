package welcome

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Mailer is the part of *sesv2.Client the welcome emails need.
type Mailer interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
	GetAccount(ctx context.Context, in *sesv2.GetAccountInput, opts ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error)
}

const getAccountAttempts = 6

// Outcome kinds of one send.
const (
	sendOK        = iota
	sendRefused   // SES did not accept it: not sent, the row's email failed
	sendBlocked   // the account cannot send (suspended, paused): not sent, stop sending
	sendUncertain // nobody knows whether SES accepted it
	sendHeld      // not sent: a daily quota is used up; sent later
)

// sendError is a send that did not end with a MessageId.
type sendError struct {
	kind    int
	code    string // report code
	message string // safe for the report
	err     error
}

func (e *sendError) Error() string { return e.message + ": " + e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// sender sends raw messages through SES at no more than its share of the
// account's send rate, retrying throttling only.
type sender struct {
	ses         Mailer
	limiter     *rate.Limiter
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration
}

// accountQuota is this worker's share of the SES account's quotas.
type accountQuota struct {
	rate rate.Limit
	// daily is how many emails this worker may send before the account's
	// 24-hour quota (Max24HourSend - SentLast24Hours) is used up; -1: no bound.
	daily int
}

// sendQuota returns this worker's share of the account's maximum send rate
// and of what is left of its 24-hour quota, from one GetAccount call. Each
// of the concurrent workers takes 1/concurrency of both, so together they
// never send past either.
func sendQuota(ctx context.Context, ses Mailer, concurrency int) (accountQuota, error) {
	// A read: safe to retry more than the SDK's default when throttled.
	out, err := ses.GetAccount(ctx, &sesv2.GetAccountInput{}, func(o *sesv2.Options) {
		o.Retryer = retry.AddWithMaxAttempts(o.Retryer, getAccountAttempts)
	})
	if err != nil {
		return accountQuota{}, fmt.Errorf("get SES account send quota: %w", err)
	}
	if concurrency < 1 {
		concurrency = 1
	}
	q := accountQuota{rate: 1.0 / rate.Limit(concurrency), daily: -1}
	if sq := out.SendQuota; sq != nil {
		if sq.MaxSendRate > 0 {
			q.rate = rate.Limit(sq.MaxSendRate / float64(concurrency))
		}
		// SES reports an unlimited 24-hour quota as -1.
		if sq.Max24HourSend >= 0 {
			q.daily = max(0, int(sq.Max24HourSend-sq.SentLast24Hours)) / concurrency
		}
	}
	return q, nil
}

// noSDKRetries turns the SDK's retries off for SendEmail: a retried request
// after a lost response could send the email twice. Throttling, which SES
// answers before accepting anything, is retried by the sender itself.
func noSDKRetries(o *sesv2.Options) { o.Retryer = aws.NopRetryer{} }

// send sends one message and returns SES's MessageId, or a *sendError.
func (s *sender) send(ctx context.Context, in *sesv2.SendEmailInput) (string, error) {
	pause := s.backoff
	for attempt := 1; ; attempt++ {
		if err := s.limiter.Wait(ctx); err != nil {
			// Nothing was sent yet.
			return "", &sendError{kind: sendRefused, code: pbx.CodeThrottled, message: "not sent before the time ran out", err: err}
		}
		out, err := s.ses.SendEmail(ctx, in, noSDKRetries)
		if err == nil {
			return aws.ToString(out.MessageId), nil
		}
		se := classifySendError(err)
		if se.code != pbx.CodeThrottled || se.kind != sendRefused || attempt >= s.maxAttempts {
			return "", se
		}
		// Full jitter: workers throttled together do not retry together.
		wait := time.Duration(rand.Int64N(int64(pause))) + pause/2
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", &sendError{kind: sendRefused, code: pbx.CodeThrottled, message: "throttled by the email service", err: ctx.Err()}
		}
		pause = min(2*pause, s.maxBackoff)
	}
}

// classifySendError sorts SES's answer into the outcome kinds: only errors
// that prove SES took nothing count as not sent; a server error or a broken
// connection is uncertain.
func classifySendError(err error) *sendError {
	var apiErr smithy.APIError
	code := ""
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var (
		tooMany *types.TooManyRequestsException
		limit   *types.LimitExceededException
	)
	switch {
	case strings.Contains(err.Error(), "Daily message quota exceeded"):
		// SES's answer once the account's 24-hour quota is used up (by
		// another sender too): no point retrying today.
		return &sendError{kind: sendHeld, code: pbx.CodeEmailHeldQuota, message: heldAccountMessage, err: err}
	case errors.As(err, &tooMany), errors.As(err, &limit), code == "TooManyRequestsException", code == "LimitExceededException", code == "Throttling", status == 429:
		return &sendError{kind: sendRefused, code: pbx.CodeThrottled, message: "throttled by the email service", err: err}
	case code == "AccountSuspendedException", code == "SendingPausedException":
		return &sendError{kind: sendBlocked, code: pbx.CodeEmailRejected, message: "the email service is not sending for this account (" + code + ")", err: err}
	case code == "MessageRejected":
		return &sendError{kind: sendRefused, code: pbx.CodeEmailRejected, message: "the email service rejected the message (suppressed or invalid address)", err: err}
	case code == "MailFromDomainNotVerifiedException", code == "NotFoundException", code == "BadRequestException":
		return &sendError{kind: sendRefused, code: pbx.CodeEmailRejected, message: "the email service refused the request (" + code + ")", err: err}
	case status >= 400 && status < 500:
		return &sendError{kind: sendRefused, code: pbx.CodeEmailRejected, message: fmt.Sprintf("the email service refused the request (HTTP %d)", status), err: err}
	default:
		return &sendError{kind: sendUncertain, code: CodeEmailUncertain, message: uncertainMessage, err: err}
	}
}

// sendInput is the SES request for one raw message with the tracing tags.
func sendInput(fromAddress, configurationSet, to string, raw []byte, tags map[string]string) *sesv2.SendEmailInput {
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(fromAddress),
		Destination:      &types.Destination{ToAddresses: []string{to}},
		Content:          &types.EmailContent{Raw: &types.RawMessage{Data: raw}},
	}
	if configurationSet != "" {
		in.ConfigurationSetName = aws.String(configurationSet)
	}
	for _, name := range []string{"tenant", "job", "purpose"} {
		if v, ok := tags[name]; ok {
			in.EmailTags = append(in.EmailTags, types.MessageTag{Name: aws.String(name), Value: aws.String(v)})
		}
	}
	return in
}
