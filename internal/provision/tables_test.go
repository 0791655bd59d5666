package provision

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zone checks must not depend on the machine's tz database

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

// readTSV reads a testdata table: '#' lines are comments, fields are
// tab-separated.
func readTSV(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s is empty", name)
	}
	return rows
}

// TestZonesAreInEachVendorsTable checks every value the zone table writes
// against the vendor's own table in testdata/vendor-zones, and the zone's
// offset and daylight saving against Go's tz database.
func TestZonesAreInEachVendorsTable(t *testing.T) {
	v := loadVendorZones(t)
	for name, z := range zones() {
		checkZoneInTZDatabase(t, name, z)
		v.checkYealink(t, name, z)
		v.checkOthers(t, name, z)
	}
	// Every Fanvil offset the code accepts is in Fanvil's table.
	for h := -12; h <= 12; h++ {
		if _, ok := v.fanvil[strconv.Itoa(h*4)]; !ok {
			t.Errorf("Fanvil table lacks %d h although the code accepts it", h)
		}
	}
	// Every Cisco offset the code accepts is in Cisco's list and back.
	for m := -720; m <= 780; m += 15 {
		if ciscoOffsetOK(m) != v.cisco[gmtOffset(m)] {
			t.Errorf("Cisco %s: code says %v", gmtOffset(m), ciscoOffsetOK(m))
		}
	}
}

// vendorZones are the vendors' own zone tables (testdata/vendor-zones).
type vendorZones struct {
	yealink          map[[2]string][]string // (time_zone, name) → the table's row
	snom, gs, cisco  map[string]bool        // the codes each accepts
	fanvil           map[string]string      // offset in quarter hours → zone name
	polyMin, polyMax int                    // Polycom's gmtOffset range, seconds
}

func loadVendorZones(t *testing.T) vendorZones {
	t.Helper()
	set := func(name string, col int) map[string]bool {
		m := map[string]bool{}
		for _, r := range readTSV(t, name) {
			m[r[col]] = true
		}
		return m
	}
	v := vendorZones{yealink: map[[2]string][]string{}, fanvil: map[string]string{}}
	for _, r := range readTSV(t, "vendor-zones/yealink.tsv") {
		v.yealink[[2]string{r[0], r[1]}] = r
	}
	v.snom, v.gs, v.cisco = set("vendor-zones/snom.tsv", 0), set("vendor-zones/grandstream.tsv", 0), set("vendor-zones/cisco.tsv", 0)
	for _, r := range readTSV(t, "vendor-zones/fanvil.tsv") {
		v.fanvil[r[0]] = r[1]
	}
	poly := readTSV(t, "vendor-zones/polycom.tsv")[0]
	v.polyMin, _ = strconv.Atoi(poly[0])
	v.polyMax, _ = strconv.Atoi(poly[1])
	return v
}

// checkZoneInTZDatabase checks the zone itself against the tz database:
// standard offset in January or July (whichever is smaller), DST when
// they differ.
func checkZoneInTZDatabase(t *testing.T, name string, z zone) {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	_, jan := time.Date(2026, 1, 15, 12, 0, 0, 0, loc).Zone()
	_, jul := time.Date(2026, 7, 15, 12, 0, 0, 0, loc).Zone()
	if std := min(jan, jul) / 60; std != z.offsetMin {
		t.Errorf("%s: offset %d min, tz database says %d", name, z.offsetMin, std)
	}
	if (jan != jul) != (z.dst != dstNone) {
		t.Errorf("%s: dst rule %d, but January %d s and July %d s", name, z.dst, jan, jul)
	}
}

// checkYealink: the (time_zone, name) pair is a table entry; automatic DST
// only where that entry's rule is the zone's rule.
func (v vendorZones) checkYealink(t *testing.T, name string, z zone) {
	t.Helper()
	row, ok := v.yealink[[2]string{z.yealinkOffset, z.yealinkName}]
	if !ok {
		t.Errorf("%s: Yealink %q %q is not in Yealink's table", name, z.yealinkOffset, z.yealinkName)
		return
	}
	start, end := yealinkRule(z)
	tableHasRule := row[2] == start && row[3] == end && start != ""
	if z.yealinkAuto != tableHasRule {
		t.Errorf("%s: yealinkAuto = %v, but the table's rule %q-%q vs ours %q-%q", name, z.yealinkAuto, row[2], row[3], start, end)
	}
	if z.dst == dstNone && row[2] != "" {
		t.Errorf("%s: no DST, but Yealink's entry %q has a rule", name, z.yealinkName)
	}
}

// checkOthers checks the zone's Snom, Grandstream, Cisco, Fanvil and
// Polycom values against their tables.
func (v vendorZones) checkOthers(t *testing.T, name string, z zone) {
	t.Helper()
	if z.snom != "" && !v.snom[z.snom] {
		t.Errorf("%s: Snom code %q is not in Snom's table", name, z.snom)
	}
	if !v.gs[z.gsP64] {
		t.Errorf("%s: Grandstream P64 %q is not in Grandstream's list", name, z.gsP64)
	}
	if (z.gsP64 == "customize") != (z.gsP246 != "") || len(z.gsP246) > 64 {
		t.Errorf("%s: P64 %q with P246 %q", name, z.gsP64, z.gsP246)
	}
	if ciscoOffsetOK(z.offsetMin) != v.cisco[gmtOffset(z.offsetMin)] {
		t.Errorf("%s: Cisco %s: ciscoOffsetOK and Cisco's list disagree", name, gmtOffset(z.offsetMin))
	}
	if z.unsupportedBy(Fanvil) == "" {
		if got := v.fanvil[strconv.Itoa(z.offsetMin/15)]; got != fanvilZoneName(z.offsetMin) {
			t.Errorf("%s: Fanvil %d %q, table says %q", name, z.offsetMin/15, fanvilZoneName(z.offsetMin), got)
		}
	} else if _, ok := v.fanvil[strconv.Itoa(z.offsetMin/15)]; ok && z.offsetMin%15 == 0 && z.offsetMin%60 == 0 {
		t.Errorf("%s: Fanvil has an entry but the zone is refused", name)
	}
	if s := z.offsetMin * 60; s < v.polyMin || s > v.polyMax {
		t.Errorf("%s: Polycom gmtOffset %d out of range", name, s)
	}
}

func TestKolkataIsFiveThirty(t *testing.T) {
	z := zones()["Asia/Kolkata"]
	got := []string{z.yealinkOffset, gmtOffset(z.offsetMin), z.gsP64, z.snom, strconv.Itoa(z.offsetMin * 60)}
	want := []string{"+5:30", "GMT+05:30", "TZT-5:30", "IND+5.5", "19800"}
	if !slices.Equal(got, want) {
		t.Errorf("Kolkata = %q, want %q", got, want)
	}
}

// conformanceKeys renders every family's files under several settings and
// returns, per family, each key written (line-format keys, XML leaf
// elements, and the attributes of Polycom's polycomConfig/APPLICATION).
func conformanceKeys(t *testing.T) map[Family]map[string]string {
	r := newRenderer(t)
	out := map[Family]map[string]string{}
	for _, f := range Families() {
		out[f] = map[string]string{}
	}
	variants := []string{
		`{"provisioning":{"proxy":"edge.acme.pbx.example"}}`,
		`{"provisioning":{"time_zone":"America/Sao_Paulo"}}`,
		`{"provisioning":{"time_zone":"America/Denver"}}`,
		`{"provisioning":{"time_zone":"Asia/Tokyo"}}`,
	}
	for _, extra := range variants {
		p := tenantSettings(t, "acme", extra).Provisioning
		for _, model := range Models() {
			family, _ := FamilyOf(model)
			a := Account{MAC: "001565a1b2c3", Model: model, DisplayName: "Ann", Extension: "100", SIPUser: "100-acme", SIPSecret: "pw"}
			got, err := r.Render(a, p)
			if err != nil {
				t.Fatal(err)
			}
			files := got.Files
			if b, ok, err := r.RenderBootstrap(model, Location{BaseURL: "https://prov.example", Path: "acme"}); err != nil {
				t.Fatal(err)
			} else if ok {
				files = append(files, b)
			}
			for _, f := range files {
				for _, k := range fileKeys(t, f) {
					out[family][k] = f.Name
				}
			}
		}
	}
	return out
}

func fileKeys(t *testing.T, f File) []string {
	t.Helper()
	if !strings.HasPrefix(string(f.Body), "<?xml") {
		var keys []string
		for line := range strings.SplitSeq(string(f.Body), "\n") {
			if k, _, ok := strings.Cut(line, " = "); ok && !strings.HasPrefix(line, "#") {
				keys = append(keys, k)
			}
		}
		return keys
	}
	var keys []string
	dec := xml.NewDecoder(bytes.NewReader(f.Body))
	var open []string
	hadChild := []bool{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(hadChild) > 0 {
				hadChild[len(hadChild)-1] = true
			}
			open = append(open, tok.Name.Local)
			hadChild = append(hadChild, false)
			if tok.Name.Local == "polycomConfig" || tok.Name.Local == "APPLICATION" {
				for _, a := range tok.Attr {
					keys = append(keys, a.Name.Local)
				}
			}
		case xml.EndElement:
			n := len(open) - 1
			if !hadChild[n] && open[n] != "polycomConfig" && open[n] != "APPLICATION" {
				keys = append(keys, open[n])
			}
			open, hadChild = open[:n], hadChild[:n]
		}
	}
	return keys
}

// TestConformanceTable: every key a template writes is cited in
// testdata/conformance.tsv with a reference and a value format, and every
// cited key is written by some file.
func TestConformanceTable(t *testing.T) {
	cited := map[Family]map[string]bool{}
	for _, r := range readTSV(t, "conformance.tsv") {
		if len(r) != 5 || r[3] == "" || r[4] == "" {
			t.Errorf("conformance row %q: want family, file, key, value format, reference", r)
			continue
		}
		f := Family(r[0])
		if !slices.Contains(Families(), f) {
			t.Errorf("conformance row %q: unknown family", r)
			continue
		}
		if cited[f] == nil {
			cited[f] = map[string]bool{}
		}
		if cited[f][r[2]] {
			t.Errorf("conformance: %s %s cited twice", f, r[2])
		}
		cited[f][r[2]] = true
	}
	written := conformanceKeys(t)
	for f, keys := range written {
		for k, file := range keys {
			if !cited[f][k] {
				t.Errorf("%s %s writes %q, which testdata/conformance.tsv does not cite", f, file, k)
			}
		}
		for k := range cited[f] {
			if _, ok := keys[k]; !ok {
				t.Errorf("testdata/conformance.tsv cites %s %q, which no template writes", f, k)
			}
		}
	}
}

// TestModelsHaveBootstrapWhereTheyAsk: the file each factory-default
// model asks for first exists for every Cisco, Snom and Yealink model.
func TestModelsHaveBootstrapWhereTheyAsk(t *testing.T) {
	r := newRenderer(t)
	want := map[string]string{
		"cisco-mpp8851": "8851-3PCC.xml", "cisco-mpp6851": "6851-3PCC.xml", "cisco-mpp7841": "7841-3PCC.xml",
		"cisco-spa504g": "spa504G.cfg", "snom-d785": "snomD785.htm", "snom-d735": "snomD735.htm",
		"yealink-t54w": "y000000000096.cfg", "yealink-t46u": "y000000000108.cfg",
	}
	for _, m := range Models() {
		f, ok, err := r.RenderBootstrap(m, Location{BaseURL: "https://prov.example/", Path: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		fam, _ := FamilyOf(m)
		needs := fam == Cisco || fam == Snom || fam == Yealink
		if ok != needs {
			t.Errorf("%s: bootstrap %v, want %v", m, ok, needs)
		}
		if w, listed := want[m]; listed && f.Name != w {
			t.Errorf("%s: bootstrap %q, want %q", m, f.Name, w)
		}
		if ok && fam != Yealink && !bytes.Contains(f.Body, []byte("https://prov.example/acme/")) {
			t.Errorf("%s: %s does not point at the tenant folder:\n%s", m, f.Name, f.Body)
		}
	}
	for _, bad := range []Location{{"ftp://x", "acme"}, {"https://u:p@x", "acme"}, {"https://x", "../beta"}, {"https://x/sub", "acme"}, {"", "acme"}} {
		if _, _, err := r.RenderBootstrap("cisco-mpp8851", bad); pbx.ErrorCode(err) != pbx.EINVALID {
			t.Errorf("%+v: err = %v, want EINVALID", bad, err)
		}
	}
}

// TestBootstrapGolden: every bootstrap file, as written for a tenant.
func TestBootstrapGolden(t *testing.T) {
	r := newRenderer(t)
	var files []File
	seen := map[string]bool{}
	for _, m := range Models() {
		f, ok, err := r.RenderBootstrap(m, Location{BaseURL: "https://prov.pbx.example", Path: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if ok && !seen[f.Name] {
			seen[f.Name] = true
			files = append(files, f)
		}
	}
	golden := filepath.Join("testdata", "bootstrap.golden")
	if testkit.Updating() {
		if err := os.WriteFile(golden, dump(files), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(dump(files), want) {
		t.Errorf("%s differs from rendered output:\n%s", golden, dump(files))
	}
}
