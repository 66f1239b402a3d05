package portal

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the portals' templates, parsed at first use: a binary that
// links the portals without serving one (the gateway without --ui) spends
// no memory on them.
var pages = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		"short":  short,
		"unixms": func(ms int64) time.Time { return time.UnixMilli(ms) },
	}).ParseFS(templateFS, "templates/*.html"))
})

// staticHandler serves the embedded scripts, styles and their licences.
// They are versioned with the binary, so browsers may keep them a day.
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// secureHeaders sets the headers every answer of a portal carries: scripts
// only from the portal itself (no inline script, no CDN), no framing, no
// sniffing, no referrer leaking record IDs.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// short is an actor's short name: the first 8 bytes of its ID, in hex.
func short(id identity.ID) string { return id.String() }

// ago says how long before now t was, for people.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

// agoMinutes is ago to the minute, for lists that update live.
func agoMinutes(now, t time.Time) string {
	if !t.IsZero() && now.Sub(t) < time.Minute {
		return "under a minute ago"
	}
	return ago(now, t)
}

// num formats a measured value.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
