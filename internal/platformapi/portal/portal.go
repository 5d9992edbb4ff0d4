// Package portal is the platform's web pages: HTML from templates, one
// stylesheet and one script, all embedded in plattr-api, and the change
// feed's kinds as a script generated from package api/events. The pages call
// only the public API (/api/v1, with the browser's session) and follow its
// event stream, so whatever the portal does a script can do with a token.
// Chart.js comes from the npm registry at build time (`make
// portal-assets`); without it the cost page shows its table alone.
package portal

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/plattr/plattr/api/events"
)

//go:embed assets pages
var files embed.FS

// page is one page: its title, the template of its body, and whether it
// draws a chart.
type page struct {
	Title, Page string
	Chart       bool
}

// Pages maps each page's path pattern to the page.
var Pages = map[string]page{
	"GET /{$}":                     {Title: "Apps", Page: "catalog"},
	"GET /apps/{namespace}/{name}": {Title: "App", Page: "app"},
	"GET /tenants":                 {Title: "Tenants", Page: "tenants"},
	"GET /costs":                   {Title: "Costs", Page: "costs", Chart: true},
}

// render executes every page once: they depend on nothing per request.
func render(p page) ([]byte, error) {
	t, err := template.ParseFS(files, "pages/layout.html", "pages/"+p.Page+".html")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout.html", p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Register adds the pages and /assets/ to mux.
func Register(mux *http.ServeMux) error {
	sub, err := fs.Sub(files, "assets")
	if err != nil {
		return err
	}
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", headers(http.FileServerFS(sub))))
	// The event kinds come from package api/events, never from a list kept
	// by hand in the script.
	kinds := []byte(events.KindsJS())
	mux.Handle("GET /assets/events.js", headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(kinds)
	})))
	for pattern, p := range Pages {
		html, err := render(p)
		if err != nil {
			return err
		}
		mux.Handle(pattern, headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
			_, _ = w.Write(html)
		})))
	}
	return nil
}

func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}
