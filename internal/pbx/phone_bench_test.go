package pbx

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkNormalizePhone normalizes the same numbers through the
// reference path (phonenumbers.Parse), NormalizePhone and a
// PhoneNormalizer, in the same run, and reports ns per number and each
// fast path's speed-up over the reference. "unique" numbers are all
// different (DIDs); "repeated" cycles through 50 (office numbers); "intl"
// are non-NANP numbers, which only the memo can speed up.
func BenchmarkNormalizePhone(b *testing.B) {
	const n = 20_000
	sets := map[string][]string{}
	for i := range n {
		sets["unique"] = append(sets["unique"], fmt.Sprintf("+1 628 %03d %04d", 200+i/10_000, i%10_000))
		sets["repeated"] = append(sets["repeated"], fmt.Sprintf("(415) 555-%04d", 100+i%50))
		sets["intl"] = append(sets["intl"], fmt.Sprintf("+49 30 9018%02d", i%50))
	}
	for _, name := range []string{"unique", "repeated", "intl"} {
		in := sets[name]
		b.Run(name, func(b *testing.B) {
			run := func(f func(string) (string, error)) time.Duration {
				start := time.Now()
				for _, s := range in {
					if _, err := f(s); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(start)
			}
			var ref, plain, memo time.Duration
			for b.Loop() {
				ref += run(func(s string) (string, error) { return normalizePhoneSlow(s, "US", "did") })
				plain += run(func(s string) (string, error) { return NormalizePhone(s, "US", "did") })
				p := NewPhoneNormalizer(0)
				memo += run(func(s string) (string, error) { return p.Normalize(s, "US", "did") })
			}
			per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n*b.N) }
			b.ReportMetric(per(ref), "parse-ns/number")
			b.ReportMetric(per(plain), "NormalizePhone-ns/number")
			b.ReportMetric(per(memo), "PhoneNormalizer-ns/number")
			b.ReportMetric(ref.Seconds()/plain.Seconds(), "NormalizePhone-speedup")
			b.ReportMetric(ref.Seconds()/memo.Seconds(), "PhoneNormalizer-speedup")
			b.ReportMetric(0, "ns/op")
		})
	}
}
