package pbx

import (
	"errors"
	"testing"
)

func TestNormalizeMAC(t *testing.T) {
	tests := []struct {
		in, want string // want "" means rejected
	}{
		{"00:15:65:AA:BB:CC", "001565aabbcc"},
		{"00-15-65-aa-bb-cc", "001565aabbcc"},
		{"0015.65aa.bbcc", "001565aabbcc"},
		{"001565AABBCC", "001565aabbcc"},
		{" 00:15:65:a1:b2:c3 ", "001565a1b2c3"},
		{"02:00:00:00:00:01", "020000000001"}, // locally administered unicast is fine
		{"00:15:65:ZZ:00:01", ""},
		{"00:00:00:00:00:00", ""},
		{"ff:ff:ff:ff:ff:ff", ""},
		{"01:00:5e:00:00:01", ""}, // multicast
		{"03:15:65:aa:bb:cc", ""}, // I/G bit
		{"00:15:65-aa:bb:cc", ""}, // mixed separators
		{"00:15:65:aa:bb", ""},
		{"001565aabbccdd", ""},
		{"0015:65aa:bbcc", ""},
		{"00.15.65.aa.bb.cc", ""},
		{"", ""},
		{"001565aabbc", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeMAC(tt.in)
		if got != tt.want {
			t.Errorf("NormalizeMAC(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if tt.want == "" {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidMAC || e.Field != "mac" {
				t.Errorf("NormalizeMAC(%q) error = %v, want a %s *Error on mac", tt.in, err, CodeInvalidMAC)
			}
		}
	}
}
