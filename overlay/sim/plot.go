package sim

import (
	"errors"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// palette holds the cluster colours; neighbouring clusters get different
// ones where the palette allows.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	{0x17, 0xbe, 0xcf, 0xff}, {0x39, 0x3b, 0x79, 0xff}, {0x63, 0x79, 0x39, 0xff}, {0xad, 0x49, 0x4a, 0xff},
}

// PlotClusters draws the nodes of lay on the plane coloured by cluster,
// heads as black-edged triangles, links from members to their heads (up to
// 3000 nodes), nodes in no cluster as grey crosses. The file's extension
// (.png, .svg, .pdf) selects the format.
func PlotClusters(path string, lay *Layout, title string) error {
	if lay == nil {
		return errors.New("no layout to plot")
	}
	n := len(lay.X)
	// Colour the clusters greedily so that touching clusters differ.
	colour := map[int32]int{}
	for i := range n {
		h := int32(i)
		if !lay.isHead(h) {
			continue
		}
		used := map[int]bool{}
		for _, m := range clusterNodes(lay, h) {
			for _, j := range lay.Adj[m] {
				if hj := lay.Head[j]; hj >= 0 && hj != h {
					if c, ok := colour[hj]; ok {
						used[c] = true
					}
				}
			}
		}
		c := 0
		for used[c] && c < len(palette)-1 {
			c++
		}
		if used[c] {
			c = i % len(palette)
		}
		colour[h] = c
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "x (m)"
	p.Y.Label.Text = "y (m)"
	p.X.Min, p.Y.Min, p.X.Max, p.Y.Max = 0, 0, lay.Side, lay.Side
	radius := vg.Points(2)
	if n > 3000 {
		radius = vg.Points(0.8)
	}
	if n <= 3000 {
		for i := range n {
			h := lay.Head[i]
			if h < 0 || h == int32(i) {
				continue
			}
			l, err := plotter.NewLine(plotter.XYs{{X: lay.X[i], Y: lay.Y[i]}, {X: lay.X[h], Y: lay.Y[h]}})
			if err != nil {
				return err
			}
			l.Color = color.RGBA{0xc8, 0xc8, 0xc8, 0xff}
			l.Width = vg.Points(0.4)
			p.Add(l)
		}
	}
	groups := make([]plotter.XYs, len(palette))
	var heads, none plotter.XYs
	for i := range n {
		if !lay.Alive[i] {
			continue
		}
		xy := plotter.XY{X: lay.X[i], Y: lay.Y[i]}
		switch h := lay.Head[i]; {
		case h < 0:
			none = append(none, xy)
		case h == int32(i):
			heads = append(heads, xy)
			groups[colour[h]] = append(groups[colour[h]], xy)
		default:
			groups[colour[h]] = append(groups[colour[h]], xy)
		}
	}
	for c, g := range groups {
		if len(g) == 0 {
			continue
		}
		s, err := plotter.NewScatter(g)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: palette[c], Radius: radius, Shape: draw.CircleGlyph{}}
		p.Add(s)
	}
	if len(heads) > 0 {
		s, err := plotter.NewScatter(heads)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: radius * 2, Shape: draw.PyramidGlyph{}}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("heads (%d)", len(heads)), s)
	}
	if len(none) > 0 {
		s, err := plotter.NewScatter(none)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: color.Gray{0x80}, Radius: radius * 1.5, Shape: draw.CrossGlyph{}}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("in no cluster (%d)", len(none)), s)
	}
	p.Legend.Top = true
	return p.Save(18*vg.Centimeter, 18*vg.Centimeter, path)
}

// clusterNodes returns the nodes whose head is h.
func clusterNodes(lay *Layout, h int32) []int32 {
	out := []int32{h}
	for _, j := range lay.Adj[h] {
		if lay.Head[j] == h {
			out = append(out, j)
		}
	}
	return out
}

// PlotOverhead draws the messages per alert against network size: the
// clustered overlay, the lowest-ID baseline's clusters and the flat flood,
// on log-log axes.
func PlotOverhead(path string, pts []SweepPoint) error {
	if len(pts) == 0 {
		return errors.New("no sweep points to plot")
	}
	p := plot.New()
	p.Title.Text = "Messages to deliver one alert (provider + hash to all authorities)"
	p.X.Label.Text = "nodes"
	p.Y.Label.Text = "messages per alert"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	series := []struct {
		name  string
		get   func(SweepPoint) float64
		col   color.Color
		shape draw.GlyphDrawer
	}{
		{"flat (flood)", func(s SweepPoint) float64 { return s.Flat }, palette[3], draw.BoxGlyph{}},
		{"clustered, lowest-ID heads", func(s SweepPoint) float64 { return s.Baseline }, palette[1], draw.TriangleGlyph{}},
		{"clustered, density heads", func(s SweepPoint) float64 { return s.Clustered }, palette[0], draw.CircleGlyph{}},
	}
	for _, s := range series {
		xys := make(plotter.XYs, len(pts))
		for i, pt := range pts {
			xys[i] = plotter.XY{X: float64(pt.Nodes), Y: max(s.get(pt), 1)}
		}
		if err := addCurve(p, s.name, xys, s.col, s.shape); err != nil {
			return err
		}
	}
	return saveCurves(p, path)
}

// PlotSpeeds draws the mean orphans against the top speed of mobility, for
// the density election and the lowest-ID baseline.
func PlotSpeeds(path string, pts []SpeedPoint) error {
	if len(pts) == 0 {
		return errors.New("no speed points to plot")
	}
	p := plot.New()
	p.Title.Text = "Nodes in no cluster although a head is in reach, under mobility"
	p.X.Label.Text = "top speed (m/s), random waypoint"
	p.Y.Label.Text = "orphans, mean over the run"
	series := []struct {
		name  string
		get   func(SpeedPoint) float64
		col   color.Color
		shape draw.GlyphDrawer
	}{
		{"lowest-ID heads", func(s SpeedPoint) float64 { return s.BaselineOrphans }, palette[1], draw.TriangleGlyph{}},
		{"density heads", func(s SpeedPoint) float64 { return s.Orphans }, palette[0], draw.CircleGlyph{}},
	}
	for _, s := range series {
		xys := make(plotter.XYs, len(pts))
		for i, pt := range pts {
			xys[i] = plotter.XY{X: pt.Speed, Y: s.get(pt)}
		}
		if err := addCurve(p, s.name, xys, s.col, s.shape); err != nil {
			return err
		}
	}
	return saveCurves(p, path)
}

// addCurve adds a legended line with a glyph at each point.
func addCurve(p *plot.Plot, name string, xys plotter.XYs, col color.Color, shape draw.GlyphDrawer) error {
	l, sc, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color = col
	sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(3), Shape: shape}
	p.Add(l, sc)
	p.Legend.Add(name, l, sc)
	return nil
}

// saveCurves saves a chart of curves, its legend at the top left, over a
// grid.
func saveCurves(p *plot.Plot, path string) error {
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p.Save(16*vg.Centimeter, 11*vg.Centimeter, path)
}
