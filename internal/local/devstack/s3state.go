package devstack

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	bolt "go.etcd.io/bbolt"
)

// openPersistentS3 opens gofakes3's bolt backend in stateDir/s3.bolt. It has
// no versioning; the event wrapper synthesizes version ids.
func openPersistentS3(stateDir string) (gofakes3.Backend, io.Closer, error) {
	path := filepath.Join(stateDir, "s3.bolt")
	// A timeout turns "another stack holds this StateDir" into an error
	// instead of a hang on the file lock.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("devstack: open S3 state %s (is another stack using this StateDir?): %w", path, err)
	}
	return s3bolt.New(db), db, nil
}
