// Command icongen draws the app's PNG icons from the design of
// static/favicon.svg (a blue speech bubble with two white lines), for the
// web app manifest (docs/SPEC.md, Installable app). Its output is
// committed; nothing runs it at build or run time. From the repository's
// root:
//
//	go run ./cmd/icongen -out static/icons
//
// It writes icon-192.png and icon-512.png (the bubble on a transparent
// background, as the favicon), icon-maskable-512.png (the bubble inside
// the maskable safe zone, a centred circle of 40 % of the size in radius,
// on an opaque background that fills the square) and badge-96.png (the
// bubble's silhouette in white, which Android shows as a mask in the
// status bar). Shapes are tested point by point with 4×4 samples a pixel,
// so the edges are smooth without a vector library.
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
)

// The favicon's colours: the bubble (the light theme's --accent) and its
// lines; the maskable icon's background is the light theme's --bg.
var (
	blue  = color.NRGBA{0x0a, 0x58, 0xca, 0xff}
	white = color.NRGBA{0xff, 0xff, 0xff, 0xff}
)

// shape says what the favicon draws at (x, y) in its 32×32 viewBox.
type shape func(x, y float64) bool

// bubble is the favicon's first path: a rounded rectangle from (2, 4) to
// (30, 24) with corners of radius 4, and a tail down to (7, 30).
func bubble(x, y float64) bool {
	return roundRect(x, y, 2, 4, 30, 24, 4) || triangle(x, y, 7, 23.5, 14, 23.5, 7, 30)
}

// lines is the favicon's second path: two white bars.
func lines(x, y float64) bool {
	return (x >= 9 && x <= 23 && y >= 11 && y <= 13) || (x >= 9 && x <= 19 && y >= 16 && y <= 18)
}

func roundRect(x, y, x0, y0, x1, y1, r float64) bool {
	if x < x0 || x > x1 || y < y0 || y > y1 {
		return false
	}
	cx := math.Max(x0+r, math.Min(x, x1-r))
	cy := math.Max(y0+r, math.Min(y, y1-r))
	return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r
}

func triangle(x, y, ax, ay, bx, by, cx, cy float64) bool {
	d1 := (x-bx)*(ay-by) - (ax-bx)*(y-by)
	d2 := (x-cx)*(by-cy) - (bx-cx)*(y-cy)
	d3 := (x-ax)*(cy-ay) - (cx-ax)*(y-ay)
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
}

// layer is a shape in a colour.
type layer struct {
	in shape
	c  color.NRGBA
}

// draw renders the layers, in order, on a size×size image filled with bg,
// the viewBox's unit being scale pixels and its origin at (offX, offY).
func draw(size int, bg color.NRGBA, scale, offX, offY float64, layers ...layer) *image.NRGBA {
	const samples = 4
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for py := range size {
		for px := range size {
			// Premultiplied sums over the pixel's samples.
			var r, g, b, a float64
			for sy := range samples {
				for sx := range samples {
					x := (float64(px) + (float64(sx)+0.5)/samples - offX) / scale
					y := (float64(py) + (float64(sy)+0.5)/samples - offY) / scale
					c := bg
					for _, l := range layers {
						if l.in(x, y) {
							c = l.c
						}
					}
					ca := float64(c.A) / 255
					r += float64(c.R) * ca
					g += float64(c.G) * ca
					b += float64(c.B) * ca
					a += ca
				}
			}
			if a == 0 {
				continue
			}
			n := float64(samples * samples)
			img.SetNRGBA(px, py, color.NRGBA{
				R: uint8(math.Round(r / a)), G: uint8(math.Round(g / a)), B: uint8(math.Round(b / a)),
				A: uint8(math.Round(a / n * 255)),
			})
		}
	}
	return img
}

func main() {
	out := flag.String("out", "static/icons", "the directory to write the icons to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "icongen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	none := color.NRGBA{}
	art := []layer{{bubble, blue}, {lines, white}}
	// The bubble spans x 2–30 and y 4–30 of the viewBox: centred, its
	// farthest corner, (2, 4) from the centre (16, 17), is 19.1 units away,
	// so 10 px a unit keeps it 191 px from the centre, inside the 204.8 px
	// of the safe zone at 512 px.
	const maskScale = 10
	icons := map[string]*image.NRGBA{
		"icon-192.png":          draw(192, none, 192.0/32, 0, 0, art...),
		"icon-512.png":          draw(512, none, 512.0/32, 0, 0, art...),
		"icon-maskable-512.png": draw(512, white, maskScale, 256-16*maskScale, 256-17*maskScale, art...),
		"badge-96.png":          draw(96, none, 96.0/32, 0, 0, layer{bubble, white}, layer{lines, none}),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, img := range icons {
		if err := writePNG(filepath.Join(dir, name), img); err != nil {
			return err
		}
	}
	return nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return f.Close()
}
