// Package portal is the platform's web pages: static HTML, CSS and a little
// JavaScript embedded in plattr-api. The pages call only the public API
// (/api/v1, with the browser's session) and follow its event stream, so
// whatever the portal does a script can do with a token. Chart.js comes
// from the npm registry at build time (`make portal-assets`); without it
// the cost page shows its table alone.
package portal

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Pages maps each page's path pattern to its file.
var Pages = map[string]string{
	"GET /{$}":                     "catalog.html",
	"GET /apps/{namespace}/{name}": "app.html",
	"GET /tenants":                 "tenants.html",
	"GET /costs":                   "costs.html",
}

// Register adds the pages and /assets/ to mux.
func Register(mux *http.ServeMux) {
	sub, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(sub)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheControl(files)))
	for pattern, file := range Pages {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, file)
		})
	}
}

func cacheControl(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// HasChart reports whether Chart.js was embedded.
func HasChart() bool {
	_, err := fs.Stat(assets, "assets/vendor/chart.umd.min.js")
	return err == nil
}
