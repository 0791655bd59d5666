package devstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/johannesboyne/gofakes3"
)

// exportWorkers is how many objects ExportObjects writes at once.
const exportWorkers = 8

// ExportObjects writes every object of bucket whose key starts with prefix
// to dir/<key without prefix> and returns how many it wrote. It reads the
// in-process S3 store directly, not through one HTTP GET per object, and
// writes files in parallel, so exporting a job's thousands of phone files
// takes a fraction of a second. Keys that would land outside dir are
// refused.
func (s *Stack) ExportObjects(ctx context.Context, bucket, prefix, dir string) (int, error) {
	be := s.s3.backend
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	keys := make(chan string)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		written  int
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for range exportWorkers {
		wg.Go(func() {
			for key := range keys {
				if err := exportObject(be, bucket, key, filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(key, prefix)))); err != nil {
					fail(err)
					continue
				}
				mu.Lock()
				written++
				mu.Unlock()
			}
		})
	}
	if err := listExportKeys(ctx, be, bucket, prefix, dir, keys); err != nil {
		fail(err)
	}
	close(keys)
	wg.Wait()
	return written, firstErr
}

// listExportKeys sends each key of bucket under prefix to keys, page by
// page; it stops at a key whose file would land outside dir, or when ctx
// ends.
func listExportKeys(ctx context.Context, be gofakes3.Backend, bucket, prefix, dir string, keys chan<- string) error {
	root := filepath.Clean(dir) + string(filepath.Separator)
	p := gofakes3.NewPrefix(&prefix, nil)
	page := gofakes3.ListBucketPage{MaxKeys: 1000}
	for {
		objs, err := be.ListBucket(bucket, &p, page)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, c := range objs.Contents {
			rel := strings.TrimPrefix(c.Key, prefix)
			if target := filepath.Join(dir, filepath.FromSlash(rel)); rel == "" || !strings.HasPrefix(target, root) {
				return fmt.Errorf("refusing to export s3://%s/%s outside %s", bucket, c.Key, dir)
			}
			select {
			case keys <- c.Key:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if !objs.IsTruncated || len(objs.Contents) == 0 {
			return nil
		}
		page.Marker, page.HasMarker = objs.Contents[len(objs.Contents)-1].Key, true
	}
}

func exportObject(be gofakes3.Backend, bucket, key, target string) error {
	obj, err := be.GetObject(bucket, key, nil)
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Contents.Close()
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.Create(target)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, obj.Contents); err != nil {
		f.Close()
		return fmt.Errorf("export s3://%s/%s: %w", bucket, key, err)
	}
	return f.Close()
}
