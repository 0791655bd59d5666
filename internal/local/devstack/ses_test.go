package devstack_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
)

// sendOne sends in and returns the message stored for it, parsed.
func sendOne(t *testing.T, in *sesv2.SendEmailInput) (*sesv2.SendEmailOutput, *mail.Message) {
	t.Helper()
	before, err := stack.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	out, err := stack.Clients.SES.SendEmail(context.Background(), in)
	if err != nil {
		t.Fatalf("SendEmail: %v", err)
	}
	after, err := stack.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 {
		t.Fatalf("outbox grew from %d to %d files, want +1", len(before), len(after))
	}
	last := after[len(after)-1]
	if !strings.HasSuffix(filepath.Base(last), "-"+aws.ToString(out.MessageId)+".eml") {
		t.Errorf("newest file %s does not name message %s", last, aws.ToString(out.MessageId))
	}
	f, err := os.Open(last)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("parse %s: %v", last, err)
	}
	return out, msg
}

func simple(to ...string) *sesv2.SendEmailInput {
	return &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("PBX Admin <noreply@acme.example>"),
		Destination:      &types.Destination{ToAddresses: to},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String("Willkommen, Jürgen")},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String("User: acme-100\nPIN: 1234")},
				Html: &types.Content{Data: aws.String("<p>User: <b>acme-100</b></p>")},
			},
		}},
		ConfigurationSetName: aws.String("bulkprov-local"),
		EmailTags: []types.MessageTag{
			{Name: aws.String("tenant"), Value: aws.String("acme")},
			{Name: aws.String("job"), Value: aws.String("j-1")},
		},
	}
}

func TestSESSimpleMessage(t *testing.T) {
	out, msg := sendOne(t, simple("Ann Lee <ann@acme.example>"))
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	headers := []struct{ name, got, want string }{
		{"Subject", subject, "Willkommen, Jürgen"},
		{"From", msg.Header.Get("From"), `"PBX Admin" <noreply@acme.example>`},
		{"To", msg.Header.Get("To"), `"Ann Lee" <ann@acme.example>`},
		{"Message-ID", msg.Header.Get("Message-Id"), "<" + aws.ToString(out.MessageId) + "@email.amazonses.com>"},
		{"X-SES-CONFIGURATION-SET", msg.Header.Get("X-Ses-Configuration-Set"), "bulkprov-local"},
		{"X-SES-MESSAGE-TAGS", msg.Header.Get("X-Ses-Message-Tags"), "tenant=acme, job=j-1"},
	}
	for _, h := range headers {
		if h.got != h.want {
			t.Errorf("%s = %q, want %q", h.name, h.got, h.want)
		}
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		typ, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[typ] = string(b)
	}
	if parts["text/plain"] != "User: acme-100\r\nPIN: 1234" || parts["text/html"] != "<p>User: <b>acme-100</b></p>" {
		t.Errorf("parts = %q", parts)
	}
}

func TestSESTextOnlyMessage(t *testing.T) {
	in := simple("bob@acme.example")
	in.Content.Simple.Body.Html = nil
	_, msg := sendOne(t, in)
	if ct := msg.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
	b, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if string(b) != "User: acme-100\r\nPIN: 1234" { // MIME text uses CRLF
		t.Errorf("body = %q", b)
	}
}

func TestSESRawMessage(t *testing.T) {
	raw := "From: noreply@acme.example\r\nTo: cy@acme.example\r\nSubject: raw\r\n\r\nhello\r\n"
	in := &sesv2.SendEmailInput{
		Content:   &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}},
		EmailTags: []types.MessageTag{{Name: aws.String("tenant"), Value: aws.String("acme")}},
	}
	_, msg := sendOne(t, in)
	if msg.Header.Get("Subject") != "raw" || msg.Header.Get("To") != "cy@acme.example" {
		t.Errorf("headers = %v", msg.Header)
	}
	if msg.Header.Get("X-Ses-Message-Tags") != "tenant=acme" || msg.Header.Get("Message-Id") == "" {
		t.Errorf("SES headers missing: %v", msg.Header)
	}
	b, _ := io.ReadAll(msg.Body)
	if string(b) != "hello\r\n" {
		t.Errorf("body = %q", b)
	}
}

func TestSESRejectsInvalidInput(t *testing.T) {
	stack.SES().RejectAddress("blocked@acme.example")
	crlf := simple("ann@acme.example")
	crlf.Content.Simple.Subject.Data = aws.String("hi\r\nBcc: all@evil.example")
	badHeader := simple("ann@acme.example")
	badHeader.Content.Simple.Headers = []types.MessageHeader{{Name: aws.String("X-Job"), Value: aws.String("a\nb")}}
	tests := []struct {
		name string
		in   *sesv2.SendEmailInput
		code string
	}{
		{"rejected address", simple("blocked@acme.example"), "MessageRejected"},
		{"no recipient", simple(), "BadRequestException"},
		{"bad address", simple("not an address"), "MessageRejected"},
		{"CR/LF in subject", crlf, "BadRequestException"},
		{"CR/LF in header", badHeader, "BadRequestException"},
		{"CR/LF in address", simple("ann@acme.example\r\nBcc: x@evil.example"), "BadRequestException"},
	}
	before, _ := stack.Outbox()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stack.Clients.SES.SendEmail(context.Background(), tt.in)
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
			if tt.code == "MessageRejected" {
				var mr *types.MessageRejected
				if !errors.As(err, &mr) {
					t.Errorf("err is %T, want *types.MessageRejected", err)
				}
			}
		})
	}
	if after, _ := stack.Outbox(); len(after) != len(before) {
		t.Errorf("rejected sends stored %d messages", len(after)-len(before))
	}
}

func TestSESGetAccountAndThrottle(t *testing.T) {
	ctx := context.Background()
	stack.SES().SetMaxSendRate(3)
	t.Cleanup(func() { stack.SES().SetMaxSendRate(14) })
	acc, err := stack.Clients.SES.GetAccount(ctx, &sesv2.GetAccountInput{})
	if err != nil {
		t.Fatal(err)
	}
	if acc.SendQuota == nil || acc.SendQuota.MaxSendRate != 3 || acc.SendQuota.Max24HourSend <= 0 || !acc.SendingEnabled || !acc.ProductionAccessEnabled {
		t.Errorf("account = %+v quota %+v", acc, acc.SendQuota)
	}

	// One throttled attempt: the SDK retries it and the call succeeds;
	// call accounting sees one operation with one retry.
	before := counter.Snapshot()
	stack.SES().Throttle(1)
	if _, err := stack.Clients.SES.GetAccount(ctx, &sesv2.GetAccountInput{}); err != nil {
		t.Fatalf("GetAccount after one throttle: %v", err)
	}
	d := counter.Snapshot().Sub(before)
	if d.Calls["SESv2.GetAccount"] != 1 || d.Retries["SESv2.GetAccount"] != 1 {
		t.Errorf("calls/retries = %v/%v, want 1/1", d.Calls, d.Retries)
	}

	// Without retries the caller sees the throttling error itself.
	stack.SES().Throttle(1)
	_, err = stack.Clients.SES.SendEmail(ctx, simple("ann@acme.example"), func(o *sesv2.Options) { o.RetryMaxAttempts = 1 })
	var tooMany *types.TooManyRequestsException
	if !errors.As(err, &tooMany) {
		t.Fatalf("err = %v, want TooManyRequestsException", err)
	}
}
