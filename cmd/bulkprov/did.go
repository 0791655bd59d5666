package main

import (
	"context"
	"encoding/json"
	"errors"
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

// runDID implements `bulkprov did`: parse the verb and flags, check them,
// open the kept state, then run the verb.
func runDID(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("did", didUsage, stderr)
	c := &didCmd{stdout: stdout}
	fs.StringVar(&c.tenant, "tenant", "", "tenant name")
	fs.StringVar(&c.stateDir, "state", "", "the kept state `DIR` of local runs")
	fs.StringVar(&c.claimFree, "claim-free", "", "allow: whether T may take free numbers with create-dids (true|false)")
	fs.StringVar(&c.callerIDs, "caller-ids", "-", "allow: comma-separated numbers T may show as caller ID")
	fs.BoolVar(&c.free, "free", false, "list: only free numbers")
	fs.BoolVar(&c.asJSON, "json", false, "list: JSON output")
	v, code, ok := parseVerb(fs, "did", args, stderr)
	if !ok {
		return code
	}
	c.verbArgs = v
	verb, known := didVerbs()[v.verb]
	if !known {
		return c.fail(exitUsage, "unknown action (want add, assign, release, allow or list)")
	}
	if err := c.checkArgs(verb); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: c.stateDir})
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer stack.Close()
	c.st = store.New(stack.Clients.DynamoDB, stack.Table)
	return verb.run(ctx, c)
}

// didCmd is one `bulkprov did <verb>`: its flags, its numbers and, once
// the kept state is open, the inventory's store.
type didCmd struct {
	verbArgs
	tenant, stateDir     string
	claimFree, callerIDs string // allow; callerIDs "-" leaves the list as it is
	free, asJSON         bool   // list
	numbers              []string
	st                   *store.Store
	stdout               io.Writer
}

// didVerb is what a verb takes and does.
type didVerb struct {
	needTenant  bool // acts on --tenant T
	takeNumbers bool // takes NUMBERS
	run         func(ctx context.Context, c *didCmd) int
}

func didVerbs() map[string]didVerb {
	return map[string]didVerb{
		"add":     {takeNumbers: true, run: didAdd},
		"assign":  {needTenant: true, takeNumbers: true, run: didAssign},
		"release": {takeNumbers: true, run: didRelease},
		"allow":   {needTenant: true, run: didAllow},
		"list":    {run: didList},
	}
}

// checkArgs checks the tenant, --state and the numbers before the stack
// starts, and parses the numbers.
func (c *didCmd) checkArgs(verb didVerb) error {
	if c.tenant != "" || verb.needTenant {
		if err := pbx.ValidateTenantName(c.tenant); err != nil {
			return fmt.Errorf("--tenant: %s", pbx.ErrorMessage(err))
		}
	}
	if c.stateDir == "" {
		return errors.New("--state DIR is required (the inventory lives in the kept state)")
	}
	if !verb.takeNumbers {
		if len(c.rest) > 0 {
			return fmt.Errorf("unexpected arguments %q", c.rest)
		}
		return nil
	}
	if len(c.rest) == 0 {
		return errors.New("give at least one number or range")
	}
	var err error
	if c.numbers, err = parseNumbers(c.rest); err != nil {
		return errors.New(pbx.ErrorMessage(err))
	}
	return nil
}

// report prints how many numbers the verb changed and, on stderr, the ones
// it refused and why (exit 1).
func (c *didCmd) report(done string, ok, refused []string, why string) int {
	fmt.Fprintf(c.stdout, "%s %d number(s)\n", done, len(ok))
	if len(refused) > 0 {
		return c.fail(exitFailed, "%d number(s) %s: %s", len(refused), why, strings.Join(refused, " "))
	}
	return exitOK
}

func didAdd(ctx context.Context, c *didCmd) int {
	added, present, err := c.st.AddDIDs(ctx, c.numbers, c.tenant)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	fmt.Fprintf(c.stdout, "added %d number(s)", len(added))
	if len(present) > 0 {
		fmt.Fprintf(c.stdout, ", %d already in the inventory (kept as they are)", len(present))
	}
	fmt.Fprintln(c.stdout)
	return exitOK
}

func didAssign(ctx context.Context, c *didCmd) int {
	ok, refused, err := c.st.AssignDIDs(ctx, c.tenant, c.numbers)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	return c.report("assigned to "+c.tenant+":", ok, refused, "not in the inventory or another tenant's")
}

func didRelease(ctx context.Context, c *didCmd) int {
	ok, refused, err := c.st.ReleaseDIDs(ctx, c.numbers)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	return c.report("released", ok, refused, "not in the inventory or still routed to an extension")
}

// didAllow changes the policy flags given and prints the policy.
func didAllow(ctx context.Context, c *didCmd) int {
	p, err := c.st.GetDIDPolicy(ctx, c.tenant)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	switch c.claimFree {
	case "":
	case "true", "false":
		p.ClaimFree = c.claimFree == "true"
	default:
		return c.fail(exitUsage, "--claim-free must be true or false")
	}
	if c.callerIDs != "-" {
		p.CallerIDs = nil
		if c.callerIDs != "" {
			if p.CallerIDs, err = parseNumbers(strings.Split(c.callerIDs, ",")); err != nil {
				return c.fail(exitUsage, "--caller-ids: %s", pbx.ErrorMessage(err))
			}
		}
	}
	if err := c.st.SetDIDPolicy(ctx, c.tenant, p); err != nil {
		return c.fail(exitFailed, "%s", pbx.ErrorMessage(err))
	}
	b, _ := json.Marshal(p)
	fmt.Fprintf(c.stdout, "tenant %s: %s\n", c.tenant, b)
	return exitOK
}

// didList prints every number, T's or the free ones, as lines or JSON.
func didList(ctx context.Context, c *didCmd) int {
	filter := c.tenant
	if c.free {
		filter = "-"
	}
	list, err := c.st.ListDIDs(ctx, filter)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	if c.asJSON {
		if list == nil {
			list = []store.InventoryDID{}
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(list)
		return exitOK
	}
	for _, d := range list {
		owner := d.Tenant
		if owner == "" {
			owner = "(free)"
		}
		fmt.Fprintf(c.stdout, "%s\t%s\n", d.Number, owner)
	}
	return exitOK
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
