package pbx

import (
	"slices"
	"strings"
)

// Phone families: groups of desk phone models that share one provisioning
// format. The provision package renders them; the domain knows the list so
// that ingest, Build and the settings can check models and families.
const (
	FamilyYealink     = "yealink"
	FamilyPolycom     = "polycom"
	FamilyGrandstream = "grandstream"
	FamilyCisco       = "cisco"
	FamilySnom        = "snom"
	FamilyFanvil      = "fanvil"
)

// PhoneFamilies lists every family, in a stable order.
func PhoneFamilies() []string {
	return []string{FamilyYealink, FamilyPolycom, FamilyGrandstream, FamilyCisco, FamilySnom, FamilyFanvil}
}

// PhoneModels returns the supported model ids ("<vendor>-<model>",
// lowercase), sorted. A function, not a variable, so nothing can mutate it.
func PhoneModels() []string {
	return []string{
		"cisco-mpp6851", "cisco-mpp7841", "cisco-mpp8851", "cisco-spa504g",
		"fanvil-x4u", "fanvil-x6u",
		"grandstream-grp2614", "grandstream-grp2616", "grandstream-gxp2170",
		"polycom-vvx250", "polycom-vvx350", "polycom-vvx450",
		"snom-d735", "snom-d785",
		"yealink-t46u", "yealink-t48u", "yealink-t53w", "yealink-t54w", "yealink-t57w",
	}
}

// PhoneFamily returns the family of a model id, or "" for an unknown
// model. A switch, so the per-row check allocates nothing.
func PhoneFamily(model string) string {
	switch model {
	case "yealink-t46u", "yealink-t48u", "yealink-t53w", "yealink-t54w", "yealink-t57w":
		return FamilyYealink
	case "polycom-vvx250", "polycom-vvx350", "polycom-vvx450":
		return FamilyPolycom
	case "grandstream-grp2614", "grandstream-grp2616", "grandstream-gxp2170":
		return FamilyGrandstream
	case "cisco-mpp6851", "cisco-mpp7841", "cisco-mpp8851", "cisco-spa504g":
		return FamilyCisco
	case "snom-d735", "snom-d785":
		return FamilySnom
	case "fanvil-x4u", "fanvil-x6u":
		return FamilyFanvil
	}
	return ""
}

// UnknownPhoneModelError is the row error for a phone_model cell that names
// no supported model; it lists the models.
func UnknownPhoneModelError(model string) *Error {
	return Errorf(CodeInvalidPhoneModel, "phone_model", "phone model %q is not one bulkprov can provision; supported models: %s",
		truncate(model, 40), strings.Join(PhoneModels(), ", "))
}

// ProvisionsFamily reports whether the tenant provisions phones of family:
// provisioning is enabled and Families is empty (every family) or lists it.
func (p Provisioning) ProvisionsFamily(family string) bool {
	return p.Enabled && family != "" && (len(p.Families) == 0 || slices.Contains(p.Families, family))
}

// FamilyNotProvisionedWarning is the row warning for a device whose model's
// family the tenant does not provision: the user is created, no phone file.
func FamilyNotProvisionedWarning(model string) string {
	return CodeMACIgnored + ": this tenant does not provision " + PhoneFamily(model) + " phones (provisioning.families), so no file was written for the " + model + "; the user was created"
}

func validatePhoneFamilies(families []string) error {
	for _, f := range families {
		if !slices.Contains(PhoneFamilies(), f) {
			return Errorf(EINVALID, "provisioning.families", "%q is not a phone family; families: %s", truncate(f, 20), strings.Join(PhoneFamilies(), ", "))
		}
	}
	return nil
}
