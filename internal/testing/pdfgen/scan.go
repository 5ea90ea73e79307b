package pdfgen

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/rand/v2"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// ScanOptions say how a simulated scan is made.
type ScanOptions struct {
	DPI      int     // resolution of the scan; 300 when 0
	FontSize float64 // points; 11 when 0
	Rotate   float64 // degrees, counter-clockwise: a page placed slightly askew
	Noise    float64 // standard deviation of the grey-level noise added to each pixel, 0-255
	Speckles float64 // share of pixels flipped to black or white (dust), e.g. 0.001
	Seed     uint64  // of the noise
}

// Scan renders text on US Letter pages as a scanner would see them (Go Regular, wrapped to
// the page's width, one paragraph per line of text and a blank line between paragraphs;
// grey noise, speckles, a slight rotation) and returns an image-only PDF: each page one
// grey image and no text layer. The text a reader should recognise is text itself,
// up to white space.
func Scan(text string, opt ScanOptions) ([]byte, error) {
	pages, err := ScanImages(text, opt)
	if err != nil {
		return nil, err
	}
	return ImagePDF(pages, cmpOr(opt.DPI, 300))
}

func cmpOr[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// ScanImages renders text as Scan does and returns the page images.
func ScanImages(text string, opt ScanOptions) ([]*image.Gray, error) {
	dpi := float64(cmpOr(opt.DPI, 300))
	size := cmpOr(opt.FontSize, 11)
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, err
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: dpi, Hinting: font.HintingFull})
	if err != nil {
		return nil, err
	}
	defer face.Close()
	w, h := int(8.5*dpi), int(11*dpi)
	margin := int(dpi) // one inch
	lineHeight := face.Metrics().Height.Ceil() * 6 / 5
	ascent := face.Metrics().Ascent.Ceil()

	// Lay out: wrap each paragraph to the text width.
	var lines []string // "" is a paragraph break
	d := &font.Drawer{Face: face}
	for _, para := range strings.Split(text, "\n") {
		words := strings.Fields(para)
		if len(words) == 0 {
			continue
		}
		line := ""
		for _, word := range words {
			next := strings.TrimSpace(line + " " + word)
			if line != "" && d.MeasureString(next).Ceil() > w-2*margin {
				lines = append(lines, line)
				line = word
				continue
			}
			line = next
		}
		lines = append(lines, line, "")
	}
	perPage := (h - 2*margin) / lineHeight
	var pages []*image.Gray
	rng := rand.New(rand.NewPCG(opt.Seed, 0x5ca9))
	for len(lines) > 0 {
		n := min(perPage, len(lines))
		img := image.NewGray(image.Rect(0, 0, w, h))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.Gray{Y: 255}), image.Point{}, draw.Src)
		d := &font.Drawer{Dst: img, Src: image.NewUniform(color.Gray{Y: 0}), Face: face}
		for i, line := range lines[:n] {
			d.Dot = fixed.P(margin, margin+ascent+i*lineHeight)
			d.DrawString(line)
		}
		lines = lines[n:]
		page := rotate(img, opt.Rotate)
		degrade(page, opt.Noise, opt.Speckles, rng)
		pages = append(pages, page)
	}
	return pages, nil
}

// rotate returns img rotated by deg degrees about its centre (bilinear; white outside).
func rotate(img *image.Gray, deg float64) *image.Gray {
	if deg == 0 {
		return img
	}
	b := img.Bounds()
	out := image.NewGray(b)
	sin, cos := math.Sincos(deg * math.Pi / 180)
	cx, cy := float64(b.Dx())/2, float64(b.Dy())/2
	at := func(x, y int) float64 {
		if x < 0 || y < 0 || x >= b.Dx() || y >= b.Dy() {
			return 255
		}
		return float64(img.Pix[y*img.Stride+x])
	}
	for y := range b.Dy() {
		for x := range b.Dx() {
			// The source of each destination pixel: the inverse rotation.
			dx, dy := float64(x)-cx, float64(y)-cy
			sx := cos*dx - sin*dy + cx
			sy := sin*dx + cos*dy + cy
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			fx, fy := sx-float64(x0), sy-float64(y0)
			v := at(x0, y0)*(1-fx)*(1-fy) + at(x0+1, y0)*fx*(1-fy) + at(x0, y0+1)*(1-fx)*fy + at(x0+1, y0+1)*fx*fy
			out.Pix[y*out.Stride+x] = uint8(math.Round(v))
		}
	}
	return out
}

// degrade adds grey noise and speckles.
func degrade(img *image.Gray, noise, speckles float64, rng *rand.Rand) {
	if noise == 0 && speckles == 0 {
		return
	}
	for i, v := range img.Pix {
		f := float64(v) + rng.NormFloat64()*noise
		if speckles > 0 && rng.Float64() < speckles {
			f = 255 * float64(rng.IntN(2))
		}
		img.Pix[i] = uint8(min(255, max(0, math.Round(f))))
	}
}

// ImagePDF returns a PDF whose pages are the images given, each filling a page of its size
// at dpi (8-bit grey, Flate-compressed), with no text layer: what a scanner writes.
func ImagePDF(pages []*image.Gray, dpi int) ([]byte, error) {
	n := len(pages)
	// Objects: 1 catalog, 2 pages, then per page: page, content, image.
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", ""}
	var kids []string
	for i, img := range pages {
		page, content, xobj := 3+3*i, 4+3*i, 5+3*i
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
		b := img.Bounds()
		wpt, hpt := float64(b.Dx())*72/float64(dpi), float64(b.Dy())*72/float64(dpi)
		objs = append(objs, fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>",
			wpt, hpt, xobj, content))
		ops := fmt.Sprintf("q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q", wpt, hpt)
		objs = append(objs, fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(ops), ops))
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		for y := range b.Dy() {
			if _, err := zw.Write(img.Pix[y*img.Stride : y*img.Stride+b.Dx()]); err != nil {
				return nil, err
			}
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		objs = append(objs, fmt.Sprintf("<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream",
			b.Dx(), b.Dy(), z.Len(), z.String()))
	}
	objs[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n)
	return Objects(objs), nil
}
