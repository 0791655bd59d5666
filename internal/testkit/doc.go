// Package testkit holds what tests share: one local AWS stack per test
// binary and golden-file comparison. Only _test.go files import it, so no
// shipped or CLI binary links package testing.
package testkit
