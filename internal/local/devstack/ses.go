package devstack

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SESServer is an in-process SES v2 endpoint (restjson1) that stores each
// accepted message as an RFC 5322 .eml file in the outbox. It implements
// SendEmail and GetAccount, with fault hooks for tests.
type SESServer struct {
	outbox string
	log    *slog.Logger

	mu          sync.Mutex
	seq         int
	sent        []time.Time // send times within the last 24 h
	maxSendRate float64
	max24h      float64
	rejected    map[string]bool
	rejectOnce  map[string]bool
	failOnce    map[string]bool
	throttle    int
}

// Defaults of a new SES account out of the sandbox, as AWS grants them.
const (
	defaultMaxSendRate = 14
	defaultMax24h      = 50000
	maxRecipients      = 50
)

func newSESServer(outbox string, log *slog.Logger) (*SESServer, error) {
	s := &SESServer{outbox: outbox, log: log, maxSendRate: defaultMaxSendRate, max24h: defaultMax24h, rejected: map[string]bool{}, rejectOnce: map[string]bool{}, failOnce: map[string]bool{}}
	// Continue the numbering of a persistent outbox.
	names, err := filepath.Glob(filepath.Join(outbox, "*.eml"))
	if err != nil {
		return nil, fmt.Errorf("devstack: read outbox: %w", err)
	}
	for _, n := range names {
		if i, err := strconv.Atoi(strings.SplitN(filepath.Base(n), "-", 2)[0]); err == nil {
			s.seq = max(s.seq, i)
		}
	}
	return s, nil
}

// SES returns the SES endpoint, for fault hooks.
func (s *Stack) SES() *SESServer { return s.ses }

// Outbox returns the paths of the stored .eml files in send order.
func (s *Stack) Outbox() ([]string, error) {
	names, err := filepath.Glob(filepath.Join(s.OutboxDir, "*.eml"))
	if err != nil {
		return nil, fmt.Errorf("devstack: list outbox: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// RejectAddress makes every following message to addr fail with
// MessageRejected, like a suppressed or unverified recipient.
func (s *SESServer) RejectAddress(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected[strings.ToLower(addr)] = true
}

// RejectAddressOnce makes the next message to addr fail with
// MessageRejected, and the ones after it go through: an address that was
// suppressed and then cleared (the portal's resend test).
func (s *SESServer) RejectAddressOnce(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectOnce[strings.ToLower(addr)] = true
}

// FailAddressOnce makes the next message to addr fail with HTTP 500
// InternalFailure: the sender cannot know whether it went out (an
// uncertain email, never resent without the admin's confirmation).
func (s *SESServer) FailAddressOnce(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOnce[strings.ToLower(addr)] = true
}

// Throttle makes the next n calls fail with 429 TooManyRequestsException.
// The SDK retries those, so n larger than its attempts reaches the caller.
func (s *SESServer) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// SetMax24HourSend sets the account's 24-hour quota (SES's sandbox: 200);
// a negative value means unlimited (GetAccount reports -1). SendEmail past
// it fails as SES does: "Daily message quota exceeded".
func (s *SESServer) SetMax24HourSend(n float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.max24h = n
}

// SetSentLast24Hours makes the account look as if n messages had been sent
// just now by others (replacing what this endpoint counted).
func (s *SESServer) SetSentLast24Hours(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = s.sent[:0]
	now := time.Now()
	for range n {
		s.sent = append(s.sent, now)
	}
}

// SetMaxSendRate sets the MaxSendRate that GetAccount reports.
func (s *SESServer) SetMaxSendRate(r float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxSendRate = r
}

type sesError struct {
	status int
	code   string
	msg    string
}

func (e *sesError) Error() string { return e.code + ": " + e.msg }

func badRequest(format string, a ...any) *sesError {
	return &sesError{http.StatusBadRequest, "BadRequestException", fmt.Sprintf(format, a...)}
}

func rejected(format string, a ...any) *sesError {
	return &sesError{http.StatusBadRequest, "MessageRejected", fmt.Sprintf(format, a...)}
}

func (s *SESServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out, err := s.route(r)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", err.code)
		w.WriteHeader(err.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": err.msg})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *SESServer) route(r *http.Request) (any, *sesError) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		return nil, &sesError{http.StatusForbidden, "MissingAuthenticationTokenException", "Request is missing Authentication Token"}
	}
	s.mu.Lock()
	if s.throttle > 0 {
		s.throttle--
		s.mu.Unlock()
		return nil, &sesError{http.StatusTooManyRequests, "TooManyRequestsException", "Maximum sending rate exceeded."}
	}
	s.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/email/outbound-emails":
		return s.sendEmail(r)
	case r.Method == http.MethodGet && r.URL.Path == "/v2/email/account":
		return s.getAccount(), nil
	}
	return nil, &sesError{http.StatusNotFound, "NotFoundException", "devstack SES implements SendEmail and GetAccount only, not " + r.Method + " " + r.URL.Path}
}

type sesSendQuota struct {
	Max24HourSend   float64
	MaxSendRate     float64
	SentLast24Hours float64
}

type sesAccount struct {
	SendQuota                    sesSendQuota
	SendingEnabled               bool
	ProductionAccessEnabled      bool
	EnforcementStatus            string
	DedicatedIpAutoWarmupEnabled bool
}

func (s *SESServer) getAccount() sesAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneSent(time.Now())
	max24h := s.max24h
	if max24h < 0 {
		max24h = -1
	}
	return sesAccount{
		SendQuota:               sesSendQuota{Max24HourSend: max24h, MaxSendRate: s.maxSendRate, SentLast24Hours: float64(len(s.sent))},
		SendingEnabled:          true,
		ProductionAccessEnabled: true,
		EnforcementStatus:       "HEALTHY",
	}
}

func (s *SESServer) pruneSent(now time.Time) {
	i := 0
	for i < len(s.sent) && now.Sub(s.sent[i]) > 24*time.Hour {
		i++
	}
	s.sent = s.sent[i:]
}

// sendEmailInput is the subset of SendEmailRequest that devstack reads.
// sesSimple is SendEmail's Content.Simple.
type sesSimple struct {
	Subject *sesContent
	Body    struct{ Text, Html *sesContent }
	Headers []struct{ Name, Value string }
}

type sendEmailInput struct {
	FromEmailAddress string
	Destination      *struct {
		ToAddresses, CcAddresses, BccAddresses []string
	}
	ReplyToAddresses []string
	Content          struct {
		Simple *sesSimple
		Raw    *struct {
			Data []byte // base64 in JSON
		}
		Template *json.RawMessage
	}
	ConfigurationSetName string
	EmailTags            []struct{ Name, Value string }
}

type sesContent struct {
	Data    string
	Charset string
}

// validTag is SES's rule for message tag names and values.
func validTag(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (s *SESServer) sendEmail(r *http.Request) (any, *sesError) {
	var in sendEmailInput
	if err := json.NewDecoder(io.LimitReader(r.Body, 40<<20)).Decode(&in); err != nil {
		return nil, badRequest("invalid request body: %v", err)
	}
	if err := checkSendEmail(&in); err != nil {
		return nil, err
	}
	id := newMessageID()
	var msg []byte
	var rcpts []string
	var err *sesError
	if in.Content.Simple != nil {
		msg, rcpts, err = buildSimple(&in, id)
	} else {
		msg, rcpts, err = buildRaw(&in, id)
	}
	if err != nil {
		return nil, err
	}
	seq, err := s.admit(rcpts)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(s.outbox, fmt.Sprintf("%06d-%s.eml", seq, id)), msg); err != nil {
		return nil, &sesError{http.StatusInternalServerError, "InternalFailure", "store message: " + err.Error()}
	}
	s.log.Debug("SES message stored", "messageId", id, "recipients", len(rcpts))
	return map[string]string{"MessageId": id}, nil
}

// checkSendEmail checks what SES checks before building the message: the
// kind of content, the tags and the configuration set's name.
func checkSendEmail(in *sendEmailInput) *sesError {
	if in.Content.Template != nil {
		return badRequest("devstack SES does not render templates; send Simple or Raw content")
	}
	if (in.Content.Simple == nil) == (in.Content.Raw == nil) {
		return badRequest("exactly one of Content.Simple and Content.Raw is required")
	}
	for _, t := range in.EmailTags {
		if !validTag(t.Name) || !validTag(t.Value) {
			return badRequest("invalid email tag %q=%q: only ASCII letters, digits, '_' and '-' are allowed", t.Name, t.Value)
		}
	}
	if hasCRLF(in.ConfigurationSetName) {
		return badRequest("ConfigurationSetName contains a line break")
	}
	return nil
}

// admit decides whether the account sends to rcpts (failures and
// rejections set up for an address, the 24-hour quota) and, if it does,
// counts the message and returns its outbox sequence number.
func (s *SESServer) admit(rcpts []string) (int, *sesError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range rcpts {
		if s.failOnce[strings.ToLower(a)] {
			delete(s.failOnce, strings.ToLower(a))
			return 0, &sesError{http.StatusInternalServerError, "InternalFailure", "The request processing has failed because of an unknown error."}
		}
		if s.rejected[strings.ToLower(a)] || s.rejectOnce[strings.ToLower(a)] {
			delete(s.rejectOnce, strings.ToLower(a))
			return 0, rejected("Email address is on the suppression list or was rejected: %s", a)
		}
	}
	s.pruneSent(time.Now())
	if s.max24h >= 0 && float64(len(s.sent)) >= s.max24h {
		// SES drops the message; the API's throttling error names the quota.
		return 0, &sesError{http.StatusTooManyRequests, "TooManyRequestsException", "Daily message quota exceeded."}
	}
	s.seq++
	s.sent = append(s.sent, time.Now())
	return s.seq, nil
}

// newMessageID returns an id shaped like SES's:
// 0100<12 hex>-<uuid>-000000.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("0100%012x-%s-%s-%s-%s-%s-000000", time.Now().UnixMilli(), h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}

func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }

// parseAddresses checks each address like SES does and returns the bare
// addresses and the header forms.
func parseAddresses(field string, list []string) (bare, header []string, err *sesError) {
	for _, a := range list {
		if hasCRLF(a) {
			return nil, nil, badRequest("%s address contains a line break", field)
		}
		p, perr := mail.ParseAddress(a)
		if perr != nil {
			return nil, nil, rejected("Illegal address in %s: %q", field, a)
		}
		bare = append(bare, p.Address)
		header = append(header, p.String())
	}
	return bare, header, nil
}

// headerWriter writes header fields, checking values for line breaks.
type headerWriter struct {
	buf bytes.Buffer
	err *sesError
}

func (h *headerWriter) add(name, value string) {
	if h.err != nil || value == "" {
		return
	}
	if hasCRLF(name) || hasCRLF(value) || strings.ContainsAny(name, ": ") {
		h.err = badRequest("header %q contains a line break or an invalid name", name)
		return
	}
	fmt.Fprintf(&h.buf, "%s: %s\r\n", name, value)
}

func sesHeaders(h *headerWriter, in *sendEmailInput) {
	h.add("X-SES-CONFIGURATION-SET", in.ConfigurationSetName)
	var tags []string
	for _, t := range in.EmailTags {
		tags = append(tags, t.Name+"="+t.Value)
	}
	h.add("X-SES-MESSAGE-TAGS", strings.Join(tags, ", "))
}

// buildSimple builds the MIME message SES sends for Simple content.
func buildSimple(in *sendEmailInput, id string) ([]byte, []string, *sesError) {
	simple := in.Content.Simple
	addr, err := simpleAddresses(in)
	if err != nil {
		return nil, nil, err
	}
	if simple.Subject == nil {
		return nil, nil, badRequest("Content.Simple.Subject is required")
	}
	if simple.Body.Text == nil && simple.Body.Html == nil {
		return nil, nil, badRequest("Content.Simple.Body needs Text or Html")
	}
	h := &headerWriter{}
	h.add("From", addr.from)
	h.add("To", strings.Join(addr.toH, ", "))
	h.add("Cc", strings.Join(addr.ccH, ", "))
	h.add("Reply-To", strings.Join(addr.replyH, ", "))
	if hasCRLF(simple.Subject.Data) {
		return nil, nil, badRequest("Subject contains a line break")
	}
	h.add("Subject", mime.QEncoding.Encode(charset(simple.Subject), simple.Subject.Data))
	h.add("Date", time.Now().Format(time.RFC1123Z))
	h.add("Message-ID", "<"+id+"@email.amazonses.com>")
	h.add("MIME-Version", "1.0")
	sesHeaders(h, in)
	for _, x := range simple.Headers {
		h.add(x.Name, x.Value)
	}
	if h.err != nil {
		return nil, nil, h.err
	}
	var body bytes.Buffer
	writeSimpleBody(h, &body, simple)
	msg := append(h.buf.Bytes(), "\r\n"...)
	return append(msg, body.Bytes()...), addr.rcpts, nil
}

// simpleAddrs are a Simple message's checked addresses: the recipients
// (To, Cc and Bcc, bare) and the header forms of the others.
type simpleAddrs struct {
	rcpts            []string
	from             string
	toH, ccH, replyH []string
}

func simpleAddresses(in *sendEmailInput) (simpleAddrs, *sesError) {
	var a simpleAddrs
	if in.FromEmailAddress == "" {
		return a, badRequest("FromEmailAddress is required")
	}
	_, from, err := parseAddresses("From", []string{in.FromEmailAddress})
	if err != nil {
		return a, err
	}
	a.from = from[0]
	var to, cc, bcc []string
	if d := in.Destination; d != nil {
		if to, a.toH, err = parseAddresses("To", d.ToAddresses); err != nil {
			return a, err
		}
		if cc, a.ccH, err = parseAddresses("Cc", d.CcAddresses); err != nil {
			return a, err
		}
		if bcc, _, err = parseAddresses("Bcc", d.BccAddresses); err != nil {
			return a, err
		}
	}
	if _, a.replyH, err = parseAddresses("ReplyTo", in.ReplyToAddresses); err != nil {
		return a, err
	}
	a.rcpts = slices.Concat(to, cc, bcc)
	if len(a.rcpts) == 0 {
		return a, badRequest("Destination has no recipient")
	}
	if len(a.rcpts) > maxRecipients {
		return a, rejected("Recipient count exceeds %d.", maxRecipients)
	}
	return a, nil
}

// writeSimpleBody writes the body, quoted-printable: one part, or
// multipart/alternative with both Text and Html; it adds the Content-Type
// (and encoding) headers to h.
func writeSimpleBody(h *headerWriter, body *bytes.Buffer, simple *sesSimple) {
	if simple.Body.Text != nil && simple.Body.Html != nil {
		mw := multipart.NewWriter(body)
		h.add("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
		for _, part := range []struct {
			typ string
			c   *sesContent
		}{{"text/plain", simple.Body.Text}, {"text/html", simple.Body.Html}} {
			pw, _ := mw.CreatePart(textproto.MIMEHeader{
				"Content-Type":              {mime.FormatMediaType(part.typ, map[string]string{"charset": charset(part.c)})},
				"Content-Transfer-Encoding": {"quoted-printable"},
			})
			writeQP(pw, part.c.Data)
		}
		_ = mw.Close()
		return
	}
	typ, c := "text/plain", simple.Body.Text
	if c == nil {
		typ, c = "text/html", simple.Body.Html
	}
	h.add("Content-Type", mime.FormatMediaType(typ, map[string]string{"charset": charset(c)}))
	h.add("Content-Transfer-Encoding", "quoted-printable")
	writeQP(body, c.Data)
}

func charset(c *sesContent) string {
	if c.Charset == "" {
		return "UTF-8"
	}
	return c.Charset
}

func writeQP(w io.Writer, s string) {
	qp := quotedprintable.NewWriter(w)
	_, _ = io.WriteString(qp, s)
	_ = qp.Close()
}

// buildRaw checks a raw message and adds SES's headers. Recipients come from
// Destination, or else from the message's To, Cc and Bcc.
func buildRaw(in *sendEmailInput, id string) ([]byte, []string, *sesError) {
	data := in.Content.Raw.Data
	m, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil, nil, rejected("raw message is not RFC 5322: %v", err)
	}
	if m.Header.Get("From") == "" && in.FromEmailAddress == "" {
		return nil, nil, rejected("raw message has no From header and FromEmailAddress is empty")
	}
	var rcpts []string
	if d := in.Destination; d != nil {
		for _, list := range [][]string{d.ToAddresses, d.CcAddresses, d.BccAddresses} {
			bare, _, serr := parseAddresses("Destination", list)
			if serr != nil {
				return nil, nil, serr
			}
			rcpts = append(rcpts, bare...)
		}
	}
	if len(rcpts) == 0 {
		for _, f := range []string{"To", "Cc", "Bcc"} {
			if m.Header.Get(f) == "" {
				continue
			}
			list, err := m.Header.AddressList(f)
			if err != nil {
				return nil, nil, rejected("Illegal address in %s header: %v", f, err)
			}
			for _, a := range list {
				rcpts = append(rcpts, a.Address)
			}
		}
	}
	if len(rcpts) == 0 {
		return nil, nil, badRequest("no recipient in Destination or the message headers")
	}
	if len(rcpts) > maxRecipients {
		return nil, nil, rejected("Recipient count exceeds %d.", maxRecipients)
	}
	h := &headerWriter{}
	if m.Header.Get("Message-Id") == "" {
		h.add("Message-ID", "<"+id+"@email.amazonses.com>")
	}
	if m.Header.Get("Date") == "" {
		h.add("Date", time.Now().Format(time.RFC1123Z))
	}
	sesHeaders(h, in)
	if h.err != nil {
		return nil, nil, h.err
	}
	return append(h.buf.Bytes(), data...), rcpts, nil
}

// writeFileAtomic writes name via a temporary file and a rename, so that a
// reader of the outbox never sees half a message.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), name)
}
