package cost

import (
	"bufio"
	"fmt"
	"io"
)

// WriteRows writes a users CSV of n data rows with a realistic mix: every
// row a name, email and mobile; every second row a DID (new, so the upload
// needs create-dids); every third row a phone MAC. Extensions, DIDs and MACs
// start at first so that several uploads to one tenant do not collide.
func WriteRows(w io.Writer, first, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("Extension,First Name,Last Name,Email,Mobile,DID,MAC\r\n")
	names := [...]string{"Ann", "Bruno", "Chloé", "Dev", "Eve", "Farid", "Jürgen", "Pål"}
	for i := first; i < first+n; i++ {
		did, mac := "", ""
		if i%2 == 0 {
			did = rowDID(i)
		}
		if i%3 == 0 {
			mac = fmt.Sprintf("00:15:6f:%02x:%02x:%02x", (i>>16)&0xff, (i>>8)&0xff, i&0xff)
		}
		fmt.Fprintf(bw, "%d,%s,Lee%d,user%d@bench.example,+1 415 555 %04d,%s,%s\r\n",
			100_000+i, names[i%len(names)], i, i, i%10_000, did, mac)
	}
	return bw.Flush()
}

// rowDID is row i's DID. NANP: the exchange (3 digits after the area code)
// starts with 2-9.
func rowDID(i int) string { return fmt.Sprintf("+1628%03d%04d", 200+(i/10_000)%800, i%10_000) }

// DIDs are the DIDs WriteRows(w, first, n) writes: the operator's inventory
// the generated uploads take their numbers from.
func DIDs(first, n int) []string {
	var out []string
	for i := first; i < first+n; i++ {
		if i%2 == 0 {
			out = append(out, rowDID(i))
		}
	}
	return out
}

// GeneratedDIDs is how many of WriteRows' rows first..first+n-1 have a DID.
func GeneratedDIDs(first, n int) int {
	c := 0
	for i := first; i < first+n; i++ {
		if i%2 == 0 {
			c++
		}
	}
	return c
}
