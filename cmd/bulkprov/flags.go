package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// addUploadOptionFlags declares the upload options as flags; only the flags
// given end up in meta, so the tenant's settings supply the rest.
func addUploadOptionFlags(fs *flag.FlagSet, meta map[string]string) {
	for _, name := range []string{pbx.MetaOnExisting, pbx.MetaWelcome} {
		fs.Func(name, "upload option "+name, func(v string) error { meta[name] = v; return nil })
	}
	for _, name := range []string{pbx.MetaCreateDIDs, pbx.MetaDIDsAsCallerID, pbx.MetaDryRun, pbx.MetaImportSecrets} {
		fs.BoolFunc(name, "upload option "+name, func(v string) error { meta[name] = v; return nil })
	}
}

// parseInterspersed parses flags that may also follow the file names and
// returns the file names. help is true for -h.
func parseInterspersed(fs *flag.FlagSet, args []string) (files []string, help bool, err error) {
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, true, nil
			}
			return nil, false, err
		}
		if fs.NArg() == 0 {
			return files, false, nil
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
}

// newFlagSet returns a flag set that prints usage (a text then the flags) to stderr.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlagsOnly parses a command that takes flags and no arguments. ok is
// false when the command should exit now with code (0 after -h).
func parseFlagsOnly(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return exitOK, true
}

// serveUntilDone serves srv on ln until ctx ends (Ctrl-C), then shuts it
// down within grace. ready runs once the server is accepting.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration, ready func()) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ready()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// verbArgs is a parsed `bulkprov <command> <verb> [flags] [args]`.
type verbArgs struct {
	verb   string
	rest   []string // the arguments besides the flags
	prefix string   // "bulkprov <command> <verb>"
	stderr io.Writer
}

// fail prints a message prefixed with the command and verb and returns code.
func (v verbArgs) fail(code int, format string, a ...any) int {
	fmt.Fprintf(v.stderr, v.prefix+": "+format+"\n", a...)
	return code
}

// parseVerb reads the verb and the flags around the arguments. ok is false
// when there is nothing to run, with the exit code: no verb (usage shown),
// -h, or a flag error (reported by fs).
func parseVerb(fs *flag.FlagSet, command string, args []string, stderr io.Writer) (v verbArgs, code int, ok bool) {
	if len(args) == 0 {
		fs.Usage()
		return v, exitUsage, false
	}
	rest, help, err := parseInterspersed(fs, args[1:])
	switch {
	case help:
		return v, exitOK, false
	case err != nil:
		return v, exitUsage, false
	}
	return verbArgs{verb: args[0], rest: rest, prefix: "bulkprov " + command + " " + args[0], stderr: stderr}, 0, true
}
