package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

type httpHandler = http.Handler

// loopbackServer is an http.Server on a free port of 127.0.0.1.
type loopbackServer struct {
	url  string
	srv  *http.Server
	done chan error
}

func serveLoopback(h http.Handler) (*loopbackServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	s := &loopbackServer{
		url:  "http://" + ln.Addr().String(),
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

func (s *loopbackServer) close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("stop server %s: %w", s.url, err)
	}
	return nil
}

// unavailable answers every request for a service the stack does not run
// with a non-retryable JSON-protocol error, so that a client built for the
// stack fails fast on loopback instead of reaching the real AWS endpoint.
func unavailable(service, hint string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":%q}`, "devstack does not run "+service+": "+hint)
	})
}
