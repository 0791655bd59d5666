package welcome

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Message is one email to build as raw MIME.
type Message struct {
	From    *mail.Address
	To      *mail.Address
	Content Content
	Date    time.Time
	// Seed makes the Message-ID and the MIME boundary deterministic (tenant,
	// user, job and purpose), so the same email renders to the same bytes.
	Seed string
}

// checkHeaderText rejects what could end a header line or start another:
// CR, LF and every other control character, including Unicode's line and
// paragraph separators and NEL.
func checkHeaderText(field, s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u2028' || r == '\u2029' {
			return pbx.Errorf(pbx.EINVALID, field, "contains a line break or control character")
		}
	}
	return nil
}

// ParseRecipient validates one recipient: a bare address (no display name,
// no list, no control character) that net/mail accepts as it is.
func ParseRecipient(name, email string) (*mail.Address, error) {
	if err := checkHeaderText("email", email); err != nil {
		return nil, err
	}
	if err := checkHeaderText("name", name); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return nil, pbx.Errorf(pbx.EINVALID, "email", "%q is not a single email address", pbx.ClipN(email, 60))
	}
	return &mail.Address{Name: name, Address: a.Address}, nil
}

// ParseFrom validates the sender identity from settings.Email.From, with or
// without a display name.
func ParseFrom(from string) (*mail.Address, error) {
	if from == "" {
		return nil, pbx.Errorf(pbx.EINVALID, "email.from", "is required to send welcome emails")
	}
	if err := checkHeaderText("email.from", from); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, pbx.Errorf(pbx.EINVALID, "email.from", "%q is not an email address: %v", pbx.ClipN(from, 60), err)
	}
	return a, nil
}

var tagValueRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// checkTag enforces SES's tag alphabet on a name or value: an injected
// character never reaches SES.
func checkTag(field, v string) error {
	if !tagValueRE.MatchString(v) {
		return pbx.Errorf(pbx.EINVALID, field, "%q is not a valid email tag (letters, digits, _ and - only)", pbx.ClipN(v, 60))
	}
	return nil
}

// seedHash is a stable hex digest of the message's seed.
func seedHash(purpose, seed string) string {
	sum := sha256.Sum256([]byte(purpose + "\x00" + seed))
	return hex.EncodeToString(sum[:16])
}

// MessageID is the deterministic Message-ID (with angle brackets).
func (m Message) MessageID() string {
	domain := "bulkprov.invalid"
	if at := strings.LastIndexByte(m.From.Address, '@'); at >= 0 {
		domain = m.From.Address[at+1:]
	}
	return "<" + seedHash("message-id", m.Seed) + "@" + domain + ">"
}

// Raw builds the RFC 5322 message: multipart/alternative with a
// quoted-printable text part and HTML part, RFC 2047 encoded display names
// and subject, CRLF line endings.
func (m Message) Raw() ([]byte, error) {
	if m.From == nil || m.To == nil {
		return nil, pbx.Errorf(pbx.EINVALID, "email", "sender and recipient are required")
	}
	for field, v := range map[string]string{
		"from": m.From.Name, "email.from": m.From.Address, "name": m.To.Name, "email": m.To.Address, "subject": m.Content.Subject,
	} {
		if err := checkHeaderText(field, v); err != nil {
			return nil, err
		}
	}
	text, err := qpEncode(m.Content.Text)
	if err != nil {
		return nil, err
	}
	html, err := qpEncode(m.Content.HTML)
	if err != nil {
		return nil, err
	}
	boundary := "=_bulkprov_" + seedHash("boundary", m.Seed)
	// Quoted-printable output never contains "=_" followed by this text
	// unless the body had it literally; be certain anyway.
	for n := 0; bytes.Contains(text, []byte(boundary)) || bytes.Contains(html, []byte(boundary)); n++ {
		boundary = "=_bulkprov_" + seedHash(fmt.Sprintf("boundary%d", n), m.Seed)
	}

	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("From", m.From.String())
	header("To", m.To.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Content.Subject))
	header("Date", m.Date.UTC().Format(time.RFC1123Z))
	header("Message-ID", m.MessageID())
	header("MIME-Version", "1.0")
	// Transactional, not a conversation: no vacation auto-replies.
	header("Auto-Submitted", "auto-generated")
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	part := func(contentType string, body []byte) {
		b.WriteString("--" + boundary + "\r\n")
		header("Content-Type", contentType)
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		b.Write(body)
		b.WriteString("\r\n")
	}
	part("text/plain; charset=utf-8", text)
	part("text/html; charset=utf-8", html)
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// qpEncode encodes a body as quoted-printable with CRLF line breaks.
func qpEncode(s string) ([]byte, error) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		return nil, fmt.Errorf("quoted-printable: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("quoted-printable: %w", err)
	}
	return b.Bytes(), nil
}
