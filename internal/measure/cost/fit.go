package cost

import (
	"math"
	"time"
)

// Extrapolate returns the usage of one upload of rows rows on the line
// through two measured uploads of the same generated mix, small and large
// (small.Rows < large.Rows): every count and duration is its value in large
// plus its growth per row times the extra rows. What a job costs whatever
// its size (job and report files, settings reads, the parent's transitions,
// a handler's start) is the line's intercept and is counted once, where
// scaling one small sample would multiply it by rows/sample. A count that
// measured lower in the larger upload (noise in handler time) is scaled
// from large in proportion instead. FitFrom records the two sizes, and
// Elapsed is the time the two measured uploads took.
func Extrapolate(small, large Usage, rows int) Usage {
	line := fitLine{small: float64(small.Rows), large: float64(large.Rows), rows: float64(rows)}
	u := Usage{
		Rows:                       rows,
		Calls:                      map[string]int{},
		DynamoDBWriteUnits:         line.at(small.DynamoDBWriteUnits, large.DynamoDBWriteUnits),
		DynamoDBTransactWriteUnits: line.at(small.DynamoDBTransactWriteUnits, large.DynamoDBTransactWriteUnits),
		DynamoDBReadUnits:          line.at(small.DynamoDBReadUnits, large.DynamoDBReadUnits),
		ObjectsWritten:             line.count(small.ObjectsWritten, large.ObjectsWritten),
		DynamoDBTransactPutUnits:   line.at(small.DynamoDBTransactPutUnits, large.DynamoDBTransactPutUnits),
		ItemWrites:                 line.count(small.ItemWrites, large.ItemWrites),
		Phase1WriteUnits:           line.at(small.Phase1WriteUnits, large.Phase1WriteUnits),
		PBXObjects:                 line.count(small.PBXObjects, large.PBXObjects),
		ProvisioningFiles:          line.count(small.ProvisioningFiles, large.ProvisioningFiles),
		Emails:                     line.count(small.Emails, large.Emails),
		StandardTransitions:        line.count(small.StandardTransitions, large.StandardTransitions),
		RowTransitions:             line.count(small.RowTransitions, large.RowTransitions),
		Elapsed:                    small.Elapsed + large.Elapsed, // the measuring's time
		FitFrom:                    []int{small.Rows, large.Rows},
	}
	for op, n := range large.Calls {
		u.Calls[op] = line.count(small.Calls[op], n)
	}
	for _, x := range large.Express {
		s := matching(small.Express, func(y ExpressUsage) bool { return y.Map == x.Map })
		x.Executions = line.count(s.Executions, x.Executions)
		x.Duration = line.duration(s.Duration, x.Duration)
		x.Transitions = line.count(s.Transitions, x.Transitions)
		u.Express = append(u.Express, x)
	}
	for _, f := range large.Functions {
		s := matching(small.Functions, func(g FunctionUsage) bool { return g.Name == f.Name })
		f.Invocations = line.count(s.Invocations, f.Invocations)
		f.Duration = line.duration(s.Duration, f.Duration)
		f.Rows = line.count(s.Rows, f.Rows)
		u.Functions = append(u.Functions, f)
	}
	return u
}

// matching returns the element of xs that is, or the zero value (a Map or
// function the smaller upload did not run).
func matching[T any](xs []T, is func(T) bool) T {
	for _, x := range xs {
		if is(x) {
			return x
		}
	}
	var zero T
	return zero
}

// fitLine is the line through (small, a) and (large, b), read at rows.
type fitLine struct{ small, large, rows float64 }

func (l fitLine) at(a, b float64) float64 {
	if b < a || l.large <= l.small {
		return b * l.rows / math.Max(l.large, 1) // not growing: proportional
	}
	return math.Max(0, b+(b-a)/(l.large-l.small)*(l.rows-l.large))
}

func (l fitLine) count(a, b int) int { return int(math.Round(l.at(float64(a), float64(b)))) }

func (l fitLine) duration(a, b time.Duration) time.Duration {
	return time.Duration(l.at(float64(a), float64(b)))
}
