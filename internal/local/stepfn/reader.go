package stepfn

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ObjectReader is the part of *s3.Client a Distributed Map's ItemReader uses.
type ObjectReader interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

type itemReader struct {
	resource   string // s3:getObject or s3:listObjectsV2
	params     *template
	inputType  string // JSONL, JSON, CSV (getObject)
	csvHeader  []string
	maxItems   int
	maxItemsAt *refPath
}

func compileReader(raw json.RawMessage) (*itemReader, error) {
	var in struct {
		Resource     string
		Parameters   json.RawMessage
		ReaderConfig map[string]json.RawMessage
	}
	if err := strictUnmarshal(raw, &in); err != nil {
		return nil, err
	}
	rd := &itemReader{resource: in.Resource}
	if in.Parameters == nil {
		return nil, fmt.Errorf("Parameters is required")
	}
	var err error
	if rd.params, err = compileTemplate(in.Parameters); err != nil {
		return nil, fmt.Errorf("Parameters: %w", err)
	}
	if err := compileReaderConfig(rd, in.ReaderConfig); err != nil {
		return nil, err
	}
	if err := checkReaderInput(rd); err != nil {
		return nil, err
	}
	return rd, nil
}

// compileReaderConfig reads ReaderConfig: the InputType, the item bound and
// the CSV header.
func compileReaderConfig(rd *itemReader, cfg map[string]json.RawMessage) error {
	for k, v := range cfg {
		switch k {
		case "InputType":
			_ = json.Unmarshal(v, &rd.inputType)
		case "MaxItems":
			if err := json.Unmarshal(v, &rd.maxItems); err != nil || rd.maxItems < 1 {
				return fmt.Errorf("ReaderConfig.MaxItems must be a positive integer")
			}
		case "MaxItemsPath":
			var s string
			_ = json.Unmarshal(v, &s)
			p, err := parsePath(s)
			if err != nil {
				return fmt.Errorf("ReaderConfig.MaxItemsPath: %w", err)
			}
			rd.maxItemsAt = &p
		case "CSVHeaderLocation":
			var loc string
			_ = json.Unmarshal(v, &loc)
			if loc != "FIRST_ROW" && loc != "GIVEN" {
				return fmt.Errorf("ReaderConfig.CSVHeaderLocation %q is not FIRST_ROW or GIVEN", loc)
			}
		case "CSVHeaders":
			if err := json.Unmarshal(v, &rd.csvHeader); err != nil {
				return fmt.Errorf("ReaderConfig.CSVHeaders: %w", err)
			}
		default:
			return fmt.Errorf("ReaderConfig.%s is not supported by the local engine", k)
		}
	}
	return nil
}

// checkReaderInput checks the InputType against the Resource: getObject
// reads JSONL, JSON or CSV; listObjectsV2 lists keys, with no InputType.
func checkReaderInput(rd *itemReader) error {
	switch rd.resource {
	case resS3Get:
		switch rd.inputType {
		case "JSONL", "JSON", "CSV":
		default:
			return fmt.Errorf("ReaderConfig.InputType %q is not supported (JSONL, JSON, CSV)", rd.inputType)
		}
	case resS3List:
		if rd.inputType != "" {
			return fmt.Errorf("ReaderConfig.InputType is not used with %s", resS3List)
		}
	default:
		return fmt.Errorf("Resource %q is not supported (%s, %s)", rd.resource, resS3Get, resS3List)
	}
	return nil
}

func (r *runner) mapItems(ctx context.Context, st *state, s scope) ([]any, error) {
	ms := st.mapSpec
	if ms.reader == nil {
		v := s.input
		if ms.itemsPath != nil {
			var ok bool
			if v, ok = ms.itemsPath.get(s.input, s.ctx); !ok {
				return nil, stateErrorf(ErrRuntime, "state %q ItemsPath: %q could not be found in the input", st.name, ms.itemsPath)
			}
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, stateErrorf(ErrRuntime, "state %q ItemsPath: %q selects a %s, not an array", st.name, ms.itemsPath, jsonType(v))
		}
		return arr, nil
	}
	rd := ms.reader
	pv, err := rd.params.eval(s)
	if err != nil {
		return nil, withState(st, "ItemReader.Parameters", err)
	}
	params, _ := pv.(map[string]any)
	bucket, _ := params["Bucket"].(string)
	maxItems := rd.maxItems
	if rd.maxItemsAt != nil {
		if maxItems, err = positiveAt(rd.maxItemsAt, s, st.name, "ItemReader.ReaderConfig.MaxItemsPath", 0, 100_000_000); err != nil {
			return nil, err
		}
	}
	fail := func(format string, a ...any) error {
		return stateErrorf(ErrItemReaderFailed, "state %q: "+format, append([]any{st.name}, a...)...)
	}
	if bucket == "" {
		return nil, fail("ItemReader Parameters need a Bucket")
	}
	var items []any
	if rd.resource == resS3List {
		prefix, _ := params["Prefix"].(string)
		items, err = listItems(ctx, r.e.opts.S3, bucket, prefix, maxItems)
	} else {
		key, _ := params["Key"].(string)
		if key == "" {
			return nil, fail("ItemReader Parameters need a Key")
		}
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if v, ok := params["VersionId"].(string); ok {
			in.VersionId = aws.String(v)
		}
		items, err = readObject(ctx, r.e.opts.S3, in, rd, maxItems)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fail("%v", err)
	}
	return items, nil
}

func listItems(ctx context.Context, c ObjectReader, bucket, prefix string, maxItems int) ([]any, error) {
	var items []any
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range out.Contents {
			item := map[string]any{"Key": aws.ToString(o.Key), "Size": json.Number(fmt.Sprint(aws.ToInt64(o.Size))), "Etag": aws.ToString(o.ETag), "StorageClass": string(o.StorageClass)}
			if o.LastModified != nil {
				item["LastModified"] = json.Number(fmt.Sprint(o.LastModified.Unix()))
			}
			items = append(items, item)
			if maxItems > 0 && len(items) == maxItems {
				return items, nil
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return items, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

func readObject(ctx context.Context, c ObjectReader, in *s3.GetObjectInput, rd *itemReader, maxItems int) ([]any, error) {
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", aws.ToString(in.Bucket), aws.ToString(in.Key), err)
	}
	defer out.Body.Close()
	where := "s3://" + aws.ToString(in.Bucket) + "/" + aws.ToString(in.Key)
	switch rd.inputType {
	case "JSONL":
		return readJSONLItems(out.Body, where, maxItems)
	case "JSON":
		return readJSONItems(out.Body, where, maxItems)
	default:
		return readCSVItems(out.Body, rd.csvHeader, where, maxItems)
	}
}

// readJSONLItems reads one item per non-blank line, at most maxItems (0:
// all).
func readJSONLItems(r io.Reader, where string, maxItems int) ([]any, error) {
	var items []any
	br := bufio.NewReaderSize(r, 64*1024)
	for line := 1; maxItems <= 0 || len(items) < maxItems; line++ {
		b, err := br.ReadBytes('\n')
		if len(strings.TrimSpace(string(b))) > 0 {
			v, derr := decodeJSON(b)
			if derr != nil {
				return nil, fmt.Errorf("%s line %d: %w", where, line, derr)
			}
			items = append(items, v)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", where, line, err)
		}
	}
	return items, nil
}

// readJSONItems reads a JSON array's elements, at most maxItems (0: all).
func readJSONItems(r io.Reader, where string, maxItems int) ([]any, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	v, err := decodeJSON(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: the JSON file holds a %s, not an array", where, jsonType(v))
	}
	if maxItems > 0 && len(items) > maxItems {
		items = items[:maxItems]
	}
	return items, nil
}

// readCSVItems reads each row as an object of header → string (missing
// cells ""), the header being the first row unless given; at most maxItems
// (0: all).
func readCSVItems(r io.Reader, header []string, where string, maxItems int) ([]any, error) {
	var items []any
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	for maxItems <= 0 || len(items) < maxItems {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if header == nil {
			header = rec
			continue
		}
		obj := make(map[string]any, len(header))
		for i, h := range header {
			if i < len(rec) {
				obj[h] = rec[i]
			} else {
				obj[h] = ""
			}
		}
		items = append(items, obj)
	}
	return items, nil
}
