// Package portalweb holds the tenant portal's static page (HTML, CSS and
// plain JavaScript, no build step), embedded so that `bulkprov portal`
// serves exactly the files that CDK uploads to the portal site bucket.
package portalweb

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files returns the page's files: index.html, app.js, app.css.
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only on an invalid path; "static" is a constant.
		panic(err)
	}
	return sub
}
