package stepfn

import "encoding/json"

// EventType names a progress event.
type EventType string

// Progress events. Map counts are in items (rows), not batches.
const (
	EventExecutionStarted   EventType = "ExecutionStarted"
	EventExecutionSucceeded EventType = "ExecutionSucceeded"
	EventExecutionFailed    EventType = "ExecutionFailed"
	EventTaskSucceeded      EventType = "TaskSucceeded"
	EventTaskFailed         EventType = "TaskFailed" // after retries, when the error leaves the state
	EventTaskRetrying       EventType = "TaskRetrying"
	EventMapStarted         EventType = "MapStarted"
	EventMapIterationDone   EventType = "MapIterationSucceeded"
	EventMapIterationFailed EventType = "MapIterationFailed"
	EventMapSucceeded       EventType = "MapSucceeded"
	EventMapFailed          EventType = "MapFailed"
)

// Event reports progress. OnEvent calls are serialized, never concurrent.
type Event struct {
	Type      EventType
	Execution string // the top-level execution's name
	State     string // the state's name; for map events, the Map state
	// Map events: Index of the iteration (batch), Items in it, and the
	// running totals over the whole Map.
	Index     int
	Items     int
	Total     int
	Succeeded int
	Failed    int
	// Task events: the handler's raw output (TaskSucceeded), Attempt (1-based).
	Output  json.RawMessage
	Attempt int
	Error   string
	Cause   string
}
