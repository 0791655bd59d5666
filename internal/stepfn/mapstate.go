package stepfn

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ObjectReader is the part of *s3.Client a Distributed Map's ItemReader uses.
type ObjectReader interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// mapSpec is a compiled Map state.
type mapSpec struct {
	distributed   bool
	express       bool // DISTRIBUTED children are EXPRESS executions: 5 minutes at most
	processor     *machine
	itemsPath     *refPath
	selector      *template
	reader        *itemReader
	batch         *batcher
	maxConc       int
	maxConcPath   *refPath
	tolPct        float64
	tolPctPath    *refPath
	tolCount      int
	tolCountPath  *refPath
	tolPctGiven   bool
	tolCountGiven bool
}

type itemReader struct {
	resource   string // s3:getObject or s3:listObjectsV2
	params     *template
	inputType  string // JSONL, JSON, CSV (getObject)
	csvHeader  []string
	maxItems   int
	maxItemsAt *refPath
}

type batcher struct {
	maxItems     int
	maxItemsPath *refPath
	maxBytes     int
	maxBytesPath *refPath
	input        *template
}

const (
	resS3Get  = "arn:aws:states:::s3:getObject"
	resS3List = "arn:aws:states:::s3:listObjectsV2"
	// maxBatchBytes is Step Functions' payload limit, the default batch byte bound.
	maxBatchBytes = 256 * 1024
)

func (c *compiler) compileMap(name string, raw map[string]json.RawMessage) (*mapSpec, error) {
	ms := &mapSpec{}
	procRaw, ok := raw["ItemProcessor"]
	if !ok {
		procRaw, ok = raw["Iterator"]
	}
	if !ok {
		return nil, fmt.Errorf("ItemProcessor is required")
	}
	var proc map[string]json.RawMessage
	if err := json.Unmarshal(procRaw, &proc); err != nil {
		return nil, fmt.Errorf("ItemProcessor: %w", err)
	}
	if pc, ok := proc["ProcessorConfig"]; ok {
		var cfg struct{ Mode, ExecutionType string }
		if err := strictUnmarshal(pc, &cfg); err != nil {
			return nil, fmt.Errorf("ItemProcessor.ProcessorConfig: %w", err)
		}
		switch cfg.Mode {
		case "INLINE", "":
		case "DISTRIBUTED":
			ms.distributed = true
			if cfg.ExecutionType != "EXPRESS" && cfg.ExecutionType != "STANDARD" {
				return nil, fmt.Errorf("ItemProcessor.ProcessorConfig.ExecutionType must be EXPRESS or STANDARD")
			}
			ms.express = cfg.ExecutionType == "EXPRESS"
		default:
			return nil, fmt.Errorf("ItemProcessor.ProcessorConfig.Mode %q is not supported", cfg.Mode)
		}
	}
	var err error
	if ms.processor, err = c.machine(proc, "ItemProcessor: "); err != nil {
		return nil, err
	}
	if ms.itemsPath, _, err = optPath(raw, "ItemsPath"); err != nil {
		return nil, err
	}
	sel, ok := raw["ItemSelector"]
	if !ok {
		sel, ok = raw["Parameters"] // the older name of ItemSelector
	}
	if ok {
		if ms.selector, err = compileTemplate(sel); err != nil {
			return nil, fmt.Errorf("ItemSelector: %w", err)
		}
	}
	if v, ok := raw["ItemReader"]; ok {
		if !ms.distributed {
			return nil, fmt.Errorf("ItemReader needs ProcessorConfig Mode DISTRIBUTED")
		}
		if ms.itemsPath != nil {
			return nil, fmt.Errorf("ItemReader and ItemsPath are exclusive")
		}
		if ms.reader, err = compileReader(v); err != nil {
			return nil, fmt.Errorf("ItemReader: %w", err)
		}
		c.needsS3 = true
	}
	if v, ok := raw["ItemBatcher"]; ok {
		if !ms.distributed {
			return nil, fmt.Errorf("ItemBatcher needs ProcessorConfig Mode DISTRIBUTED")
		}
		if ms.batch, err = compileBatcher(v); err != nil {
			return nil, fmt.Errorf("ItemBatcher: %w", err)
		}
	}
	intField := func(field string, dst *int) error {
		if v, ok := raw[field]; ok {
			if err := json.Unmarshal(v, dst); err != nil || *dst < 0 {
				return fmt.Errorf("%s must be a non-negative integer", field)
			}
		}
		return nil
	}
	pathField := func(field string) (*refPath, error) {
		p, null, err := optPath(raw, field)
		if null {
			return nil, fmt.Errorf("%s must be a path", field)
		}
		return p, err
	}
	if err = intField("MaxConcurrency", &ms.maxConc); err != nil {
		return nil, err
	}
	if ms.maxConcPath, err = pathField("MaxConcurrencyPath"); err != nil {
		return nil, err
	}
	if err = intField("ToleratedFailureCount", &ms.tolCount); err != nil {
		return nil, err
	}
	if ms.tolCountPath, err = pathField("ToleratedFailureCountPath"); err != nil {
		return nil, err
	}
	if v, ok := raw["ToleratedFailurePercentage"]; ok {
		if err := json.Unmarshal(v, &ms.tolPct); err != nil || ms.tolPct < 0 || ms.tolPct > 100 {
			return nil, fmt.Errorf("ToleratedFailurePercentage must be a number from 0 to 100")
		}
	}
	if ms.tolPctPath, err = pathField("ToleratedFailurePercentagePath"); err != nil {
		return nil, err
	}
	_, count := raw["ToleratedFailureCount"]
	_, pct := raw["ToleratedFailurePercentage"]
	ms.tolCountGiven = count || ms.tolCountPath != nil
	ms.tolPctGiven = pct || ms.tolPctPath != nil
	if _, both := raw["MaxConcurrency"]; both && ms.maxConcPath != nil {
		return nil, fmt.Errorf("MaxConcurrency and MaxConcurrencyPath are exclusive")
	}
	return ms, nil
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
	for k, v := range in.ReaderConfig {
		switch k {
		case "InputType":
			_ = json.Unmarshal(v, &rd.inputType)
		case "MaxItems":
			if err := json.Unmarshal(v, &rd.maxItems); err != nil || rd.maxItems < 1 {
				return nil, fmt.Errorf("ReaderConfig.MaxItems must be a positive integer")
			}
		case "MaxItemsPath":
			var s string
			_ = json.Unmarshal(v, &s)
			p, err := parsePath(s)
			if err != nil {
				return nil, fmt.Errorf("ReaderConfig.MaxItemsPath: %w", err)
			}
			rd.maxItemsAt = &p
		case "CSVHeaderLocation":
			var loc string
			_ = json.Unmarshal(v, &loc)
			if loc != "FIRST_ROW" && loc != "GIVEN" {
				return nil, fmt.Errorf("ReaderConfig.CSVHeaderLocation %q is not FIRST_ROW or GIVEN", loc)
			}
		case "CSVHeaders":
			if err := json.Unmarshal(v, &rd.csvHeader); err != nil {
				return nil, fmt.Errorf("ReaderConfig.CSVHeaders: %w", err)
			}
		default:
			return nil, fmt.Errorf("ReaderConfig.%s is not supported by the local engine", k)
		}
	}
	switch rd.resource {
	case resS3Get:
		switch rd.inputType {
		case "JSONL", "JSON", "CSV":
		default:
			return nil, fmt.Errorf("ReaderConfig.InputType %q is not supported (JSONL, JSON, CSV)", rd.inputType)
		}
	case resS3List:
		if rd.inputType != "" {
			return nil, fmt.Errorf("ReaderConfig.InputType is not used with %s", resS3List)
		}
	default:
		return nil, fmt.Errorf("Resource %q is not supported (%s, %s)", rd.resource, resS3Get, resS3List)
	}
	return rd, nil
}

func compileBatcher(raw json.RawMessage) (*batcher, error) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, err
	}
	b := &batcher{}
	for k, v := range in {
		var err error
		switch k {
		case "MaxItemsPerBatch":
			if err := json.Unmarshal(v, &b.maxItems); err != nil || b.maxItems < 1 {
				return nil, fmt.Errorf("MaxItemsPerBatch must be a positive integer")
			}
		case "MaxInputBytesPerBatch":
			if err := json.Unmarshal(v, &b.maxBytes); err != nil || b.maxBytes < 1 || b.maxBytes > maxBatchBytes {
				return nil, fmt.Errorf("MaxInputBytesPerBatch must be 1..%d", maxBatchBytes)
			}
		case "MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("%s must be a path", k)
			}
			p, perr := parsePath(s)
			if perr != nil {
				return nil, fmt.Errorf("%s: %w", k, perr)
			}
			if k == "MaxItemsPerBatchPath" {
				b.maxItemsPath = &p
			} else {
				b.maxBytesPath = &p
			}
		case "BatchInput":
			b.input, err = compileTemplate(v)
		default:
			return nil, fmt.Errorf("field %q is not supported", k)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return b, nil
}

// positiveAt reads a *Path field's value, which must be an integer in [lo, hi].
func positiveAt(p *refPath, sc scope, state, field string, lo, hi int) (int, error) {
	v, ok := p.get(sc.input, sc.ctx)
	n, isInt := asInt(v)
	if !ok || !isInt || n < lo || n > hi {
		return 0, stateErrorf(ErrRuntime, "state %q %s: %q must select an integer from %d to %d, got %s", state, field, p, lo, hi, describe(v, ok))
	}
	return n, nil
}

func describe(v any, found bool) string {
	if !found {
		return "nothing"
	}
	b, _ := encodeJSON(v)
	if len(b) > 60 {
		b = append(b[:57], "..."...)
	}
	return string(b)
}

// iteration is one child run: one item, or one batch of items.
type iteration struct {
	index int
	items int
	input any
}

func (r *runner) runMap(ctx context.Context, st *state, input any, sc *stateCtx) (any, error) {
	ms := st.mapSpec
	s := sc.scope(input)
	items, err := r.mapItems(ctx, st, s)
	if err != nil {
		return nil, err
	}
	iters := make([]iteration, 0, len(items))
	for i, it := range items {
		if ms.selector != nil {
			isc := &stateCtx{r: r, name: st.name, entered: sc.entered, item: &mapItem{index: i, value: it}}
			if it, err = ms.selector.eval(isc.scope(input)); err != nil {
				return nil, withState(st, "ItemSelector", err)
			}
		}
		iters = append(iters, iteration{index: i, items: 1, input: it})
	}
	if ms.batch != nil {
		if iters, err = r.batchItems(st, iters, s); err != nil {
			return nil, err
		}
	}
	conc := ms.maxConc
	if ms.maxConcPath != nil {
		if conc, err = positiveAt(ms.maxConcPath, s, st.name, "MaxConcurrencyPath", 0, 1<<20); err != nil {
			return nil, err
		}
	}
	tolPct, tolCount := ms.tolPct, ms.tolCount
	if ms.tolPctPath != nil {
		n, err := positiveAt(ms.tolPctPath, s, st.name, "ToleratedFailurePercentagePath", 0, 100)
		if err != nil {
			return nil, err
		}
		tolPct = float64(n)
	}
	if ms.tolCountPath != nil {
		if tolCount, err = positiveAt(ms.tolCountPath, s, st.name, "ToleratedFailureCountPath", 0, 1<<30); err != nil {
			return nil, err
		}
	}
	hasPct, hasCount := ms.tolPctGiven, ms.tolCountGiven
	exceeded := func(failed, total int) bool {
		if !hasPct && !hasCount {
			return failed > 0
		}
		return hasPct && float64(failed)*100 > tolPct*float64(total) || hasCount && failed > tolCount
	}
	return r.runIterations(ctx, st, iters, len(items), conc, exceeded)
}

func (r *runner) runIterations(ctx context.Context, st *state, iters []iteration, total, conc int, exceeded func(failed, total int) bool) (any, error) {
	ms := st.mapSpec
	r.e.emit(Event{Type: EventMapStarted, Execution: r.exec.name, State: st.name, Total: total, Items: len(iters)})
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Step Functions' own bounds: 0 means "as many as allowed".
	limit := MaxInlineConcurrency
	if ms.distributed {
		limit = MaxDistributedConcurrency
	}
	if conc <= 0 || conc > limit {
		conc = limit
	}
	conc = min(conc, len(iters))
	results := make([]any, len(iters))
	var (
		mu                sync.Mutex
		succeeded, failed int
		firstErr          *StateError
		tooMany           bool
	)
	work := make(chan iteration)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for it := range work {
				out, err := r.runChild(ctx, st, it)
				if ctx.Err() != nil {
					continue // stopped: the Map's outcome is already decided
				}
				mu.Lock()
				ev := Event{Execution: r.exec.name, State: st.name, Index: it.index, Items: it.items, Total: total}
				if err == nil {
					succeeded += it.items
					results[it.index] = out
					ev.Type = EventMapIterationDone
				} else {
					failed += it.items
					var se *StateError
					if !errors.As(err, &se) {
						se = &StateError{Name: ErrRuntime, Cause: err.Error()}
					}
					if firstErr == nil {
						firstErr = se
					}
					results[it.index] = map[string]any{"Error": se.Name, "Cause": se.Cause}
					ev.Type, ev.Error, ev.Cause = EventMapIterationFailed, se.Name, se.Cause
					if exceeded(failed, total) {
						tooMany = true
						cancel()
					}
				}
				ev.Succeeded, ev.Failed = succeeded, failed
				mu.Unlock()
				r.e.emit(ev)
			}
		})
	}
feed:
	for _, it := range iters {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := parent.Err(); err != nil {
		return nil, err
	}
	end := Event{Type: EventMapSucceeded, Execution: r.exec.name, State: st.name, Total: total, Succeeded: succeeded, Failed: failed}
	if tooMany {
		end.Type = EventMapFailed
		r.e.emit(end)
		if !ms.distributed && !ms.tolPctGiven && !ms.tolCountGiven {
			return nil, firstErr // an inline Map fails with its iteration's error
		}
		return nil, stateErrorf(ErrExceedToleratedFails, "state %q: %d of %d items failed, more than tolerated; first error: %s: %s", st.name, failed, total, firstErr.Name, firstErr.Cause)
	}
	r.e.emit(end)
	return results, nil
}

// runChild runs one iteration. An EXPRESS child that is still running after
// ExpressMaxDuration is stopped and fails with States.Timeout, as on AWS
// (locally its running Task's context ends too; on AWS a Lambda already
// invoked runs on to its own timeout).
func (r *runner) runChild(ctx context.Context, st *state, it iteration) (any, error) {
	ms := st.mapSpec
	if !ms.express {
		return r.runMachine(ctx, ms.processor, it.input, nil)
	}
	// A cancellation, not a deadline: the running Task's handler keeps the
	// deadline of its own timeout, as a Lambda does.
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	overrun := errors.New("EXPRESS maximum duration")
	stop := time.AfterFunc(r.e.scaled(ExpressMaxDuration), func() { cancel(overrun) })
	defer stop.Stop()
	out, err := r.runMachine(cctx, ms.processor, it.input, nil)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), overrun) {
		return nil, stateErrorf(ErrTimeout, "state %q: the EXPRESS child execution of item %d ran longer than %s, the EXPRESS maximum",
			st.name, it.index, ExpressMaxDuration)
	}
	return out, err
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
	var items []any
	full := func() bool { return maxItems > 0 && len(items) >= maxItems }
	switch rd.inputType {
	case "JSONL":
		br := bufio.NewReaderSize(out.Body, 64*1024)
		for line := 1; !full(); line++ {
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
	case "JSON":
		body, err := io.ReadAll(out.Body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		v, err := decodeJSON(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: the JSON file holds a %s, not an array", where, jsonType(v))
		}
		items = arr
		if maxItems > 0 && len(items) > maxItems {
			items = items[:maxItems]
		}
	default: // CSV: each row an object of header → string
		cr := csv.NewReader(out.Body)
		cr.FieldsPerRecord = -1
		header := rd.csvHeader
		for row := 1; !full(); row++ {
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
	}
	return items, nil
}

// batchItems groups iterations per ItemBatcher into {"BatchInput", "Items"}
// inputs, bounded by item count and encoded size.
func (r *runner) batchItems(st *state, iters []iteration, s scope) ([]iteration, error) {
	b := st.mapSpec.batch
	maxItems, maxBytes := b.maxItems, b.maxBytes
	var err error
	if b.maxItemsPath != nil {
		if maxItems, err = positiveAt(b.maxItemsPath, s, st.name, "ItemBatcher.MaxItemsPerBatchPath", 1, 100_000_000); err != nil {
			return nil, err
		}
	}
	if b.maxBytesPath != nil {
		if maxBytes, err = positiveAt(b.maxBytesPath, s, st.name, "ItemBatcher.MaxInputBytesPerBatchPath", 1, maxBatchBytes); err != nil {
			return nil, err
		}
	}
	if maxBytes == 0 {
		maxBytes = maxBatchBytes
	}
	var batchInput any
	if b.input != nil {
		if batchInput, err = b.input.eval(s); err != nil {
			return nil, withState(st, "ItemBatcher.BatchInput", err)
		}
	}
	base := len(`{"Items":[]}`)
	if batchInput != nil {
		enc, _ := encodeJSON(batchInput)
		base += len(`"BatchInput":,`) + len(enc)
	}
	var out []iteration
	var cur []any
	size := base
	flush := func() {
		if len(cur) == 0 {
			return
		}
		in := map[string]any{"Items": cur}
		if batchInput != nil {
			in["BatchInput"] = batchInput
		}
		out = append(out, iteration{index: len(out), items: len(cur), input: in})
		cur, size = nil, base
	}
	for _, it := range iters {
		enc, _ := encodeJSON(it.input)
		if base+len(enc)+1 > maxBytes {
			return nil, stateErrorf(ErrRuntime, "state %q ItemBatcher: item %d alone is larger than %d bytes", st.name, it.index, maxBytes)
		}
		if len(cur) == maxItems || size+len(enc)+1 > maxBytes {
			flush()
		}
		cur = append(cur, it.input)
		size += len(enc) + 1
	}
	flush()
	return out, nil
}
