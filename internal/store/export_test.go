package store

// SetQueryPageLimit makes every Query of s return at most n items per page,
// so tests exercise paging without writing a megabyte.
func SetQueryPageLimit(s *Store, n int32) { s.queryPageLimit = n }
