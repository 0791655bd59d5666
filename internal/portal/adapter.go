package portal

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// LambdaFunc is an API Gateway HTTP API (payload v2) handler, such as
// (*Handler).Handle.
type LambdaFunc func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Authenticator checks an HTTP request's credentials and returns its JWT
// claims, as API Gateway's JWT authorizer would; an error means 401.
type Authenticator func(r *http.Request) (map[string]string, error)

// LambdaAdapter serves a LambdaFunc over net/http the way API Gateway HTTP
// API does: it authenticates the request (401 {"message":"Unauthorized"}
// without calling the function, as the JWT authorizer answers), builds the
// payload v2 event with the claims in RequestContext.Authorizer.JWT, calls
// the function and writes its response.
type LambdaAdapter struct {
	Func LambdaFunc
	Auth Authenticator
	// MaxBodyBytes is how much of a body is passed on; one byte more is
	// read so the function can see and refuse an oversize body.
	MaxBodyBytes int64
}

func (a LambdaAdapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	claims, err := a.Auth(r)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"message":"Unauthorized"}`)
		return
	}
	limit := a.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		http.Error(w, "could not read the request body", http.StatusBadRequest)
		return
	}
	ev := toEvent(r, body, claims)
	resp, err := a.Func(r.Context(), ev)
	if err != nil {
		// API Gateway answers a failed invocation like this.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"message":"Internal Server Error"}`)
		return
	}
	writeResponse(w, resp)
}

// toEvent builds the payload v2 event API Gateway would send for r.
func toEvent(r *http.Request, body []byte, claims map[string]string) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, c := range v {
				for _, part := range strings.Split(c, ";") {
					if part = strings.TrimSpace(part); part != "" {
						cookies = append(cookies, part)
					}
				}
			}
			continue
		}
		headers[lk] = strings.Join(v, ",")
	}
	query := map[string]string{}
	for k, v := range r.URL.Query() {
		query[k] = strings.Join(v, ",")
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              "$default",
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "$default",
			AccountID:    "local",
			Stage:        "$default",
			RequestID:    headers["x-request-id"],
			DomainName:   r.Host,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			Authorizer:   &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: nil}},
			HTTP:         events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: ip, UserAgent: r.UserAgent()},
			DomainPrefix: "local",
		},
	}
	if len(body) > 0 {
		if textual(headers["content-type"]) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

func textual(ct string) bool {
	ct = mediaType(ct)
	return strings.HasPrefix(ct, "text/") || ct == "application/json" || ct == "application/x-www-form-urlencoded"
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			http.Error(w, "bad function response", http.StatusBadGateway)
			return
		}
		body = b
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
