package stepfn

import (
	"encoding/json"
	"fmt"
)

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
	if err := c.compileProcessor(ms, raw); err != nil {
		return nil, err
	}
	if err := c.compileItemSource(ms, raw); err != nil {
		return nil, err
	}
	if err := compileMapLimits(ms, raw); err != nil {
		return nil, err
	}
	return ms, nil
}

// compileProcessor compiles the ItemProcessor (or its older name,
// Iterator): its processing mode and the machine each item runs.
func (c *compiler) compileProcessor(ms *mapSpec, raw map[string]json.RawMessage) error {
	procRaw, ok := raw["ItemProcessor"]
	if !ok {
		procRaw, ok = raw["Iterator"]
	}
	if !ok {
		return fmt.Errorf("ItemProcessor is required")
	}
	var proc map[string]json.RawMessage
	if err := json.Unmarshal(procRaw, &proc); err != nil {
		return fmt.Errorf("ItemProcessor: %w", err)
	}
	if pc, ok := proc["ProcessorConfig"]; ok {
		if err := compileProcessorConfig(ms, pc); err != nil {
			return err
		}
	}
	var err error
	ms.processor, err = c.machine(proc, "ItemProcessor: ")
	return err
}

// compileProcessorConfig reads the Mode (INLINE or DISTRIBUTED) and a
// distributed Map's child ExecutionType.
func compileProcessorConfig(ms *mapSpec, raw json.RawMessage) error {
	var cfg struct{ Mode, ExecutionType string }
	if err := strictUnmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("ItemProcessor.ProcessorConfig: %w", err)
	}
	switch cfg.Mode {
	case "INLINE", "":
	case "DISTRIBUTED":
		ms.distributed = true
		if cfg.ExecutionType != "EXPRESS" && cfg.ExecutionType != "STANDARD" {
			return fmt.Errorf("ItemProcessor.ProcessorConfig.ExecutionType must be EXPRESS or STANDARD")
		}
		ms.express = cfg.ExecutionType == "EXPRESS"
	default:
		return fmt.Errorf("ItemProcessor.ProcessorConfig.Mode %q is not supported", cfg.Mode)
	}
	return nil
}

// compileItemSource compiles where the items come from (ItemsPath or, for
// a distributed Map, an ItemReader) and how each becomes an iteration's
// input (ItemSelector, ItemBatcher).
func (c *compiler) compileItemSource(ms *mapSpec, raw map[string]json.RawMessage) error {
	var err error
	if ms.itemsPath, _, err = optPath(raw, "ItemsPath"); err != nil {
		return err
	}
	sel, ok := raw["ItemSelector"]
	if !ok {
		sel, ok = raw["Parameters"] // the older name of ItemSelector
	}
	if ok {
		if ms.selector, err = compileTemplate(sel); err != nil {
			return fmt.Errorf("ItemSelector: %w", err)
		}
	}
	if v, ok := raw["ItemReader"]; ok {
		if !ms.distributed {
			return fmt.Errorf("ItemReader needs ProcessorConfig Mode DISTRIBUTED")
		}
		if ms.itemsPath != nil {
			return fmt.Errorf("ItemReader and ItemsPath are exclusive")
		}
		if ms.reader, err = compileReader(v); err != nil {
			return fmt.Errorf("ItemReader: %w", err)
		}
		c.needsS3 = true
	}
	if v, ok := raw["ItemBatcher"]; ok {
		if !ms.distributed {
			return fmt.Errorf("ItemBatcher needs ProcessorConfig Mode DISTRIBUTED")
		}
		if ms.batch, err = compileBatcher(v); err != nil {
			return fmt.Errorf("ItemBatcher: %w", err)
		}
	}
	return nil
}

// compileMapLimits compiles MaxConcurrency and the tolerated failures,
// each a literal or a *Path read when the Map starts.
func compileMapLimits(ms *mapSpec, raw map[string]json.RawMessage) error {
	var err error
	if err = mapIntField(raw, "MaxConcurrency", &ms.maxConc); err != nil {
		return err
	}
	if ms.maxConcPath, err = mapPathField(raw, "MaxConcurrencyPath"); err != nil {
		return err
	}
	if err = mapIntField(raw, "ToleratedFailureCount", &ms.tolCount); err != nil {
		return err
	}
	if ms.tolCountPath, err = mapPathField(raw, "ToleratedFailureCountPath"); err != nil {
		return err
	}
	if v, ok := raw["ToleratedFailurePercentage"]; ok {
		if err := json.Unmarshal(v, &ms.tolPct); err != nil || ms.tolPct < 0 || ms.tolPct > 100 {
			return fmt.Errorf("ToleratedFailurePercentage must be a number from 0 to 100")
		}
	}
	if ms.tolPctPath, err = mapPathField(raw, "ToleratedFailurePercentagePath"); err != nil {
		return err
	}
	_, count := raw["ToleratedFailureCount"]
	_, pct := raw["ToleratedFailurePercentage"]
	ms.tolCountGiven = count || ms.tolCountPath != nil
	ms.tolPctGiven = pct || ms.tolPctPath != nil
	if _, both := raw["MaxConcurrency"]; both && ms.maxConcPath != nil {
		return fmt.Errorf("MaxConcurrency and MaxConcurrencyPath are exclusive")
	}
	return nil
}

// mapIntField reads an optional non-negative integer field into dst.
func mapIntField(raw map[string]json.RawMessage, field string, dst *int) error {
	if v, ok := raw[field]; ok {
		if err := json.Unmarshal(v, dst); err != nil || *dst < 0 {
			return fmt.Errorf("%s must be a non-negative integer", field)
		}
	}
	return nil
}

// mapPathField reads an optional *Path field; unlike InputPath, null is
// not allowed.
func mapPathField(raw map[string]json.RawMessage, field string) (*refPath, error) {
	p, null, err := optPath(raw, field)
	if null {
		return nil, fmt.Errorf("%s must be a path", field)
	}
	return p, err
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
