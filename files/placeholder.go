package files

// Placeholders of what service.go defines (removed when it lands).

// Limits bound what one upload may be.
type Limits struct {
	MaxBytes                int64
	MaxPixels               int64
	ThumbWidth, ThumbHeight int
}

// Label is a short label of a type.
func Label(typ, name string) string { return "" }
