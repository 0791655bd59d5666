// Package pbx holds bulkprov's domain: tenants, settings, the rows a tenant
// uploads and the PBX objects each row becomes, with the naming rules of the
// PBX whose "Users CSV Upload" we reproduce. It has no AWS dependency.
package pbx

import (
	"errors"
	"fmt"
)

// Application error codes (the wtf style): a small closed set that callers
// switch on, plus a human message that is safe to show the tenant admin.
const (
	EINVALID  = "invalid"   // input does not satisfy a rule
	ECONFLICT = "conflict"  // the object exists or is owned by someone else
	ENOTFOUND = "not_found" // the object does not exist
	ELIMIT    = "limit"     // a size or count bound was exceeded
	EINTERNAL = "internal"  // a bug or an unavailable dependency
)

// Row- and file-level issue codes, as they appear in reports. They are more
// precise than the application codes above; Class maps them back.
const (
	CodeFileTooLarge       = "file_too_large"
	CodeTooManyRows        = "too_many_rows"
	CodeFileUnreadable     = "file_unreadable"
	CodeEncoding           = "invalid_encoding"
	CodeNoHeader           = "missing_header"
	CodeMissingColumn      = "missing_column"
	CodeUnknownColumn      = "unknown_column"
	CodeDuplicateColumn    = "duplicate_column"
	CodeBadOption          = "invalid_option"
	CodeBadTenant          = "invalid_tenant"
	CodeBadKey             = "invalid_key"
	CodeRequired           = "required"
	CodeInvalidExtension   = "invalid_extension"
	CodeReservedExtension  = "reserved_extension"
	CodeInvalidName        = "invalid_name"
	CodeInvalidEmail       = "invalid_email"
	CodeInvalidPhone       = "invalid_phone"
	CodeExcelMangled       = "excel_mangled_number"
	CodeInvalidMAC         = "invalid_mac"
	CodeMACIgnored         = "mac_ignored"
	CodeDuplicateInFile    = "duplicate_in_file"
	CodeExtensionExists    = "extension_exists"
	CodeDIDNotOwned        = "did_not_owned"
	CodeDIDTaken           = "did_taken"
	CodeMACTaken           = "mac_taken"
	CodeInvalidPhoneModel  = "invalid_phone_model"
	CodeFieldTooLong       = "field_too_long"
	CodeControlCharacter   = "control_character"
	CodeHeldAllOrNothing   = "held_all_or_nothing"
	CodeBatchFailed        = "batch_failed"
	CodeThrottled          = "throttled"
	CodeEmailRejected      = "email_rejected"
	CodeEmailHeldQuota     = "email_held_quota" // a daily quota is used up: held, sent later by bulkprov send-welcome
	CodeProvisioningFailed = "provisioning_failed"
	CodeInternal           = "internal_error"
	// Migration from another PBX's export (package peers).
	CodeNoRows           = "no_rows"             // a header and no data rows
	CodeMultipleValues   = "multiple_values"     // a multi-valued cell: the first value is kept
	CodeUserDisabled     = "user_disabled"       // disabled on the source PBX; created anyway
	CodeNotSIPUser       = "not_sip_user"        // not a SIP user (virtual, custom, ...): not created
	CodeDeleteRow        = "delete_row"          // a peer's "delete" row: nothing to create
	CodePhoneModelMapped = "phone_model_mapped"  // vendor + model mapped to one of our model ids
	CodePhoneModelNone   = "phone_model_unknown" // no equivalent model id: the tenant's default is used
	CodeNotUserRoute     = "not_user_route"      // a DID route to an IVR, ring group, ...: skipped
	CodeNoSuchUser       = "no_such_user"        // a companion row for an extension with no user
	CodeInvalidValue     = "invalid_value"       // a cell that is not one of the peer's values
)

// Error is a domain error: a code from the lists above, a message safe to
// show to the tenant admin, and optionally the wrapped cause (never shown).
type Error struct {
	Code    string
	Field   string // CSV column or settings field, when one is at fault
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, msg, e.Err)
	}
	return e.Code + ": " + msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message.
func Errorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain,
// EINTERNAL for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or a generic message for anything else so internals never reach a report.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}
