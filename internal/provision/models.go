// Package provision renders desk phones' auto-provisioning files from
// vendor templates embedded in the binary, writes them to the provisioning
// bucket (the write-provisioning step) and serves them to phones with
// per-tenant HTTP Basic credentials (Server).
package provision

import (
	"slices"
	"strings"
)

// Family is a group of phone models sharing one configuration format.
type Family string

// The supported families. Each has one template set in templates/.
const (
	Yealink     Family = "yealink"
	Polycom     Family = "polycom"
	Grandstream Family = "grandstream"
	Cisco       Family = "cisco"
	Snom        Family = "snom"
	Fanvil      Family = "fanvil"
)

// Families lists every family, in a stable order.
func Families() []Family {
	return []Family{Yealink, Polycom, Grandstream, Cisco, Snom, Fanvil}
}

// modelFamilies maps each supported model id (lowercase, "<vendor>-<model>")
// to its family. A function, not a package variable, so that nothing can
// mutate it.
func modelFamilies() map[string]Family {
	return map[string]Family{
		"yealink-t46u":        Yealink,
		"yealink-t48u":        Yealink,
		"yealink-t53w":        Yealink,
		"yealink-t54w":        Yealink,
		"yealink-t57w":        Yealink,
		"polycom-vvx250":      Polycom,
		"polycom-vvx350":      Polycom,
		"polycom-vvx450":      Polycom,
		"grandstream-grp2614": Grandstream,
		"grandstream-grp2616": Grandstream,
		"grandstream-gxp2170": Grandstream,
		"cisco-mpp6851":       Cisco,
		"cisco-mpp7841":       Cisco,
		"cisco-mpp8851":       Cisco,
		"cisco-spa504g":       Cisco,
		"snom-d735":           Snom,
		"snom-d785":           Snom,
		"fanvil-x4u":          Fanvil,
		"fanvil-x6u":          Fanvil,
	}
}

// KnownModel reports whether model is a supported phone model id. Ingest
// validates the CSV's phone_model column with it; ids are matched exactly
// (lowercase), as they are stored.
func KnownModel(model string) bool {
	_, ok := modelFamilies()[model]
	return ok
}

// Models returns the supported model ids, sorted.
func Models() []string {
	m := modelFamilies()
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// FamilyOf returns model's family.
func FamilyOf(model string) (Family, bool) {
	f, ok := modelFamilies()[model]
	return f, ok
}

// vendorModel is the model part of the id in the vendor's spelling
// ("yealink-t54w" → "T54W"), for comments and Cisco's/Snom's model fields.
func vendorModel(model string) string {
	_, m, _ := strings.Cut(model, "-")
	return strings.ToUpper(m)
}
