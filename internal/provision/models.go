// Package provision renders desk phones' auto-provisioning files from
// vendor templates embedded in the binary, writes them to the provisioning
// bucket (the write-provisioning step) and serves them to phones, each
// device with its own HTTP Basic credential (Server, DeviceAuth).
package provision

import (
	"strings"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Family is a group of phone models sharing one configuration format.
type Family string

// The supported families. Each has one template set in templates/.
const (
	Yealink     Family = pbx.FamilyYealink
	Polycom     Family = pbx.FamilyPolycom
	Grandstream Family = pbx.FamilyGrandstream
	Cisco       Family = pbx.FamilyCisco
	Snom        Family = pbx.FamilySnom
	Fanvil      Family = pbx.FamilyFanvil
)

// Families lists every family, in a stable order.
func Families() []Family {
	var out []Family
	for _, f := range pbx.PhoneFamilies() {
		out = append(out, Family(f))
	}
	return out
}

// KnownModel reports whether model is a supported phone model id. Ingest
// validates the CSV's phone_model column with it; ids are matched exactly
// (lowercase), as they are stored.
func KnownModel(model string) bool { return pbx.PhoneFamily(model) != "" }

// Models returns the supported model ids, sorted.
func Models() []string { return pbx.PhoneModels() }

// FamilyOf returns model's family.
func FamilyOf(model string) (Family, bool) {
	f := pbx.PhoneFamily(model)
	return Family(f), f != ""
}

// vendorModel is the model part of the id in the vendor's spelling
// ("yealink-t54w" → "T54W"), for comments and Cisco's/Snom's model fields.
func vendorModel(model string) string {
	_, m, _ := strings.Cut(model, "-")
	return strings.ToUpper(m)
}

// bootstrapName is the file a factory-default phone of model requests
// before (or instead of) its MAC file, or "" when the MAC file is the
// first request. Sources, per family:
//   - Yealink: the common file y0000000000<NN>.cfg, NN = the firmware
//     family (first number of the firmware version: T46U/T48U 108.x,
//     T53W/T54W/T57W 96.x per wazo-provd-plugins plugins/wazo_yealink/v86/entry.py
//     MODEL_INFO; file naming per Yealink's Auto Provisioning Guide, "Common CFG file").
//   - Cisco MPP: <PSN>-3PCC.xml, the default Profile_Rule /$PSN.xml (wazo
//     plugins/wazo_cisco_sip/v12_0_1/entry.py _COMMON_FILENAMES '8851-3PCC.xml').
//   - Cisco SPA: spa<PSN>.cfg with a lowercase "spa" and the model's own
//     case ("spa504G.cfg"; wazo plugins/wazo_cisco_spa/v7_5_5/entry.py).
//   - Snom: snom<Model>.htm (wazo plugins/wazo_snom/build.py generates
//     snom<model>.htm from common/templates/common/snom-model.htm.tpl.btpl).
//   - Polycom, Grandstream, Fanvil ask for their MAC file first
//     (Polycom <mac>.cfg, wazo wazo_polycom; Grandstream cfg<mac>.xml;
//     Fanvil <mac>.cfg, wazo wazo_fanvil common.py _dev_specific_filename).
func bootstrapName(model string) string {
	switch model {
	case "yealink-t46u", "yealink-t48u":
		return "y000000000108.cfg"
	case "yealink-t53w", "yealink-t54w", "yealink-t57w":
		return "y000000000096.cfg"
	case "cisco-mpp6851", "cisco-mpp7841", "cisco-mpp8851":
		return strings.TrimPrefix(vendorModel(model), "MPP") + "-3PCC.xml"
	case "cisco-spa504g":
		return "spa504G.cfg"
	case "snom-d735", "snom-d785":
		return "snom" + vendorModel(model) + ".htm"
	}
	return ""
}

// BootstrapNames returns every bootstrap file name of every model, sorted
// and without duplicates: the server and the CloudFront function serve
// these names to any device of the tenant.
func BootstrapNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range Models() {
		if n := bootstrapName(m); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
