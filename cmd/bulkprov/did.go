package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

const didUsage = `usage: bulkprov did add     --state DIR [--tenant T] NUMBERS...
       bulkprov did assign  --state DIR --tenant T NUMBERS...
       bulkprov did release --state DIR NUMBERS...
       bulkprov did allow   --state DIR --tenant T [--claim-free=true|false] [--caller-ids N,N...]
       bulkprov did list    --state DIR [--tenant T | --free] [--json]

The operator's DID inventory (issue #17): tenants route only numbers that
come from it. NUMBERS are E.164 numbers (+14155550100) or ranges of at most
10,000 numbers (+14155550100-+14155550199).

add      puts numbers in the inventory, free or (with --tenant) assigned to T;
         numbers already there are kept as they are.
assign   assigns free inventory numbers to tenant T.
release  returns numbers to the free inventory (refused while one is routed).
allow    sets T's policy: --claim-free lets T's uploads with create-dids take
         free numbers; --caller-ids are numbers outside T's DIDs it may show
         as caller ID (replaces the list; "" clears it).
list     prints the inventory: every number, T's, or the free ones.
Exit status: 0 ok, 1 some numbers refused, 2 usage error.

flags:
`

// runDID implements `bulkprov did`.
func runDID(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("did", didUsage, stderr)
	tenant := fs.String("tenant", "", "tenant name")
	stateDir := fs.String("state", "", "the kept state `DIR` of local runs")
	claimFree := fs.String("claim-free", "", "allow: whether T may take free numbers with create-dids (true|false)")
	callerIDs := fs.String("caller-ids", "-", "allow: comma-separated numbers T may show as caller ID")
	free := fs.Bool("free", false, "list: only free numbers")
	asJSON := fs.Bool("json", false, "list: JSON output")
	v, code, ok := parseVerb(fs, "did", args, stderr)
	if !ok {
		return code
	}
	verb, rest, fail := v.verb, v.rest, v.fail
	switch verb {
	case "add", "assign", "release", "allow", "list":
	default:
		return fail(exitUsage, "unknown action (want add, assign, release, allow or list)")
	}
	needTenant := verb == "assign" || verb == "allow"
	if *tenant != "" || needTenant {
		if err := pbx.ValidateTenantName(*tenant); err != nil {
			return fail(exitUsage, "--tenant: %s", pbx.ErrorMessage(err))
		}
	}
	if *stateDir == "" {
		return fail(exitUsage, "--state DIR is required (the inventory lives in the kept state)")
	}
	var numbers []string
	if verb == "add" || verb == "assign" || verb == "release" {
		if len(rest) == 0 {
			return fail(exitUsage, "give at least one number or range")
		}
		var err error
		if numbers, err = parseNumbers(rest); err != nil {
			return fail(exitUsage, "%s", pbx.ErrorMessage(err))
		}
	} else if len(rest) > 0 {
		return fail(exitUsage, "unexpected arguments %q", rest)
	}
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: *stateDir})
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	defer stack.Close()
	st := store.New(stack.Clients.DynamoDB, stack.Table)

	report := func(done string, ok, refused []string, why string) int {
		fmt.Fprintf(stdout, "%s %d number(s)\n", done, len(ok))
		if len(refused) > 0 {
			fmt.Fprintf(stderr, "bulkprov did %s: %d number(s) %s: %s\n", verb, len(refused), why, strings.Join(refused, " "))
			return exitFailed
		}
		return exitOK
	}
	switch verb {
	case "add":
		added, present, err := st.AddDIDs(ctx, numbers, *tenant)
		if err != nil {
			return fail(exitFailed, "%v", err)
		}
		fmt.Fprintf(stdout, "added %d number(s)", len(added))
		if len(present) > 0 {
			fmt.Fprintf(stdout, ", %d already in the inventory (kept as they are)", len(present))
		}
		fmt.Fprintln(stdout)
		return exitOK
	case "assign":
		ok, refused, err := st.AssignDIDs(ctx, *tenant, numbers)
		if err != nil {
			return fail(exitFailed, "%v", err)
		}
		return report("assigned to "+*tenant+":", ok, refused, "not in the inventory or another tenant's")
	case "release":
		ok, refused, err := st.ReleaseDIDs(ctx, numbers)
		if err != nil {
			return fail(exitFailed, "%v", err)
		}
		return report("released", ok, refused, "not in the inventory or still routed to an extension")
	case "allow":
		p, err := st.GetDIDPolicy(ctx, *tenant)
		if err != nil {
			return fail(exitFailed, "%v", err)
		}
		switch *claimFree {
		case "":
		case "true", "false":
			p.ClaimFree = *claimFree == "true"
		default:
			return fail(exitUsage, "--claim-free must be true or false")
		}
		if *callerIDs != "-" {
			p.CallerIDs = nil
			if *callerIDs != "" {
				if p.CallerIDs, err = parseNumbers(strings.Split(*callerIDs, ",")); err != nil {
					return fail(exitUsage, "--caller-ids: %s", pbx.ErrorMessage(err))
				}
			}
		}
		if err := st.SetDIDPolicy(ctx, *tenant, p); err != nil {
			return fail(exitFailed, "%s", pbx.ErrorMessage(err))
		}
		b, _ := json.Marshal(p)
		fmt.Fprintf(stdout, "tenant %s: %s\n", *tenant, b)
		return exitOK
	default: // list
		filter := *tenant
		if *free {
			filter = "-"
		}
		list, err := st.ListDIDs(ctx, filter)
		if err != nil {
			return fail(exitFailed, "%v", err)
		}
		if *asJSON {
			if list == nil {
				list = []store.InventoryDID{}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(list)
			return exitOK
		}
		for _, d := range list {
			owner := d.Tenant
			if owner == "" {
				owner = "(free)"
			}
			fmt.Fprintf(stdout, "%s\t%s\n", d.Number, owner)
		}
		return exitOK
	}
}

// parseNumbers reads E.164 numbers and ranges (+14155550100-+14155550199).
func parseNumbers(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		a = strings.TrimSpace(a)
		if first, last, ok := strings.Cut(a, "-"); ok {
			n, err := store.ExpandDIDRange(strings.TrimSpace(first), strings.TrimSpace(last))
			if err != nil {
				return nil, err
			}
			out = append(out, n...)
			continue
		}
		if !store.ValidE164(a) {
			return nil, pbx.Errorf(pbx.EINVALID, "did", "%q is not an E.164 number such as +14155550100 or a range such as +14155550100-+14155550199", a)
		}
		out = append(out, a)
	}
	return out, nil
}
