// Command bulkprov runs bulkprov's pipeline on this machine against an
// embedded AWS stack, validates uploads, serves provisioning files and the
// tenant portal locally, and models the cost of running it on AWS.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes shared by the subcommands.
const (
	exitOK      = 0
	exitFailed  = 1 // the work ran and something in it failed (invalid rows, failed rows)
	exitUsage   = 2 // bad flags, unreadable or unusable input
	exitUnknown = 2
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"run":                {"run uploads through the whole pipeline on the embedded stack", runRun},
		"validate":           {"validate a CSV as ingest would, with no side effects", runValidate},
		"template":           {"print the canonical CSV header and two example rows", runTemplate},
		"send-welcome":       {"send the deferred welcome emails of a job", runSendWelcome},
		"serve-provisioning": {"serve provisioning files to phones over HTTP", runServeProvisioning},
		"cost":               {"estimate the AWS cost of N rows from call counts measured locally", runCost},
		"tenant":             {"check, store or show a tenant's settings", runTenant},
		"portal":             {"serve the tenant portal and API on the local pipeline", runPortal},
		"phone":              {"show or rotate one device's provisioning credential; CloudFront KVS entries", runPhone},
		"export":             {"print a tenant's users in the template's columns (CSV) or as JSON", runExport},
		"sip-lookup":         {"serve the softswitch read path (HA1, extension, DID lookups) for a SIP server", runSIPLookup},
		"did":                {"manage the operator's DID inventory and each tenant's DID policy", runDID},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "bulkprov: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return exitUnknown
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: bulkprov <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-20s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'bulkprov <command> -h' for a command's flags.")
}
