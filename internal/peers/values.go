package peers

import (
	"fmt"
	"strings"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/provision"
)

// SplitName splits a full name: "Lee, Ann" is last, first; otherwise the
// last word is the last name ("Ann Marie Lee" → "Ann Marie", "Lee") and a
// single word is a first name.
func SplitName(full string) (first, last string) {
	full = strings.Join(strings.Fields(full), " ")
	if l, f, ok := strings.Cut(full, ","); ok {
		return strings.TrimSpace(f), strings.TrimSpace(l)
	}
	words := strings.Fields(full)
	switch len(words) {
	case 0:
		return "", ""
	case 1:
		return words[0], ""
	}
	return strings.Join(words[:len(words)-1], " "), words[len(words)-1]
}

// parseFlag reads the yes/no conventions peers use: yes/no, y/n,
// true/false, 1/0, on/off, enabled/disabled. ok is false for anything else.
func parseFlag(v string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "y", "true", "t", "on", "enabled", "enable", "active":
		return true, true
	case "0", "no", "n", "false", "f", "off", "disabled", "disable", "inactive":
		return false, true
	}
	return false, false
}

// freePBXDestination reads a FreePBX goto destination ("context,exten,prio")
// and returns the user extension it rings, or what it is instead.
// Source: FreePBX core's destinations (from-did-direct for extensions,
// ext-local vmb/vmu/vms for voicemail, ext-group, ext-queues, ivr-N, ...).
func freePBXDestination(d string) (ext, what string) {
	parts := strings.Split(d, ",")
	ctx := strings.TrimSpace(parts[0])
	arg := ""
	if len(parts) > 1 {
		arg = strings.TrimSpace(parts[1])
	}
	switch {
	case (ctx == "from-did-direct" || ctx == "ext-local" || ctx == "from-internal") && allDigits(arg):
		return arg, ""
	case ctx == "ext-local" && len(arg) > 3 && strings.HasPrefix(arg, "vm"):
		return "", "the voicemail of extension " + clip(strings.TrimLeft(arg, "vmbusi"))
	case strings.HasPrefix(ctx, "ivr-"):
		return "", "an IVR (" + clip(ctx) + ")"
	case ctx == "ext-group":
		return "", "ring group " + clip(arg)
	case ctx == "ext-queues":
		return "", "queue " + clip(arg)
	case strings.HasPrefix(ctx, "timeconditions"):
		return "", "a time condition"
	case strings.HasPrefix(ctx, "app-announcement"):
		return "", "an announcement"
	case ctx == "app-blackhole":
		return "", "a terminate-call destination (" + clip(arg) + ")"
	case ctx == "ext-meetme", ctx == "ext-conference", strings.HasPrefix(ctx, "conferences"):
		return "", "conference " + clip(arg)
	case strings.HasPrefix(ctx, "app-daynight"):
		return "", "a call flow control"
	case ctx == "ext-fax":
		return "", "the fax detection"
	case ctx == "ext-miscdests":
		return "", "a misc destination"
	}
	return "", fmt.Sprintf("%q", clip(d))
}

// vendorAliases maps the vendor names peers write to ours.
var vendorAliases = map[string]string{
	"yealink": "yealink", "yea": "yealink",
	"polycom": "polycom", "poly": "polycom", "hp": "polycom",
	"grandstream": "grandstream", "gs": "grandstream",
	"cisco": "cisco", "snom": "snom", "fanvil": "fanvil",
}

// MapPhoneModel maps a peer's vendor and model ("Yealink", "SIP-T54W";
// "yealink", "t53"; "", "yealink-t54w") to one of our model ids. It
// returns "" when there is no equivalent; code and msg then say so, or
// that a near model was chosen.
func MapPhoneModel(vendor, model string) (id, code, msg string) {
	shown := strings.TrimSpace(strings.TrimSpace(vendor) + " " + strings.TrimSpace(model))
	v := strings.ToLower(strings.TrimSpace(vendor))
	m := strings.ToLower(strings.TrimSpace(model))
	if v == "" { // "yealink-t54w", "Yealink T54W", "yealink/t54w"
		if i := strings.IndexAny(m, " -/_"); i > 0 {
			if _, ok := vendorAliases[m[:i]]; ok {
				v, m = m[:i], m[i+1:]
			}
		}
	}
	v = vendorAliases[v]
	var b strings.Builder
	for _, r := range m {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	m = b.String()
	for _, prefix := range []string{"sip", v, "cp"} { // "SIP-T54W", "YealinkT54W", Cisco "CP-8851"
		if prefix != "" && strings.HasPrefix(m, prefix) && len(m) > len(prefix) {
			m = m[len(prefix):]
		}
	}
	if v == "cisco" && allDigits(m[:min(4, len(m))]) && len(m) >= 4 && !strings.HasPrefix(m, "spa") {
		m = "mpp" + m[:4] // the 3PCC (MPP) firmware of the 6800/7800/8800 series
	}
	none := func() (string, string, string) {
		return "", pbx.CodePhoneModelNone, fmt.Sprintf("phone model %q has no equivalent here; the tenant's default phone model is used (models: %s)", clip(shown), strings.Join(provision.Models(), ", "))
	}
	if v == "" || m == "" {
		return none()
	}
	cand := v + "-" + m
	if provision.KnownModel(cand) {
		return cand, "", ""
	}
	var near []string
	for _, known := range provision.Models() {
		if strings.HasPrefix(known, cand) {
			near = append(near, known)
		}
	}
	if len(near) == 1 {
		return near[0], pbx.CodePhoneModelMapped, fmt.Sprintf("phone model %q is provisioned as %s", clip(shown), near[0])
	}
	return none()
}
