// Package provision renders desk phones' auto-provisioning files from
// vendor templates embedded in the binary, writes them to the provisioning
// bucket (the write-provisioning step) and serves them to phones with
// per-tenant HTTP Basic credentials (Server).
package provision

import "strings"

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

// modelIDs are the supported model ids (lowercase, "<vendor>-<model>"),
// sorted. A function, not a package variable, so nothing can mutate it.
func modelIDs() []string {
	return []string{
		"cisco-mpp6851", "cisco-mpp7841", "cisco-mpp8851", "cisco-spa504g",
		"fanvil-x4u", "fanvil-x6u",
		"grandstream-grp2614", "grandstream-grp2616", "grandstream-gxp2170",
		"polycom-vvx250", "polycom-vvx350", "polycom-vvx450",
		"snom-d735", "snom-d785",
		"yealink-t46u", "yealink-t48u", "yealink-t53w", "yealink-t54w", "yealink-t57w",
	}
}

// familyOf maps a model id to its family with a switch: ingest asks for
// every CSV row, so this allocates nothing.
func familyOf(model string) Family {
	switch model {
	case "yealink-t46u", "yealink-t48u", "yealink-t53w", "yealink-t54w", "yealink-t57w":
		return Yealink
	case "polycom-vvx250", "polycom-vvx350", "polycom-vvx450":
		return Polycom
	case "grandstream-grp2614", "grandstream-grp2616", "grandstream-gxp2170":
		return Grandstream
	case "cisco-mpp6851", "cisco-mpp7841", "cisco-mpp8851", "cisco-spa504g":
		return Cisco
	case "snom-d735", "snom-d785":
		return Snom
	case "fanvil-x4u", "fanvil-x6u":
		return Fanvil
	}
	return ""
}

// KnownModel reports whether model is a supported phone model id. Ingest
// validates the CSV's phone_model column with it; ids are matched exactly
// (lowercase), as they are stored.
func KnownModel(model string) bool { return familyOf(model) != "" }

// Models returns the supported model ids, sorted.
func Models() []string { return modelIDs() }

// FamilyOf returns model's family.
func FamilyOf(model string) (Family, bool) {
	f := familyOf(model)
	return f, f != ""
}

// vendorModel is the model part of the id in the vendor's spelling
// ("yealink-t54w" → "T54W"), for comments and Cisco's/Snom's model fields.
func vendorModel(model string) string {
	_, m, _ := strings.Cut(model, "-")
	return strings.ToUpper(m)
}
