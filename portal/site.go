package portal

import (
	"bytes"
	"log/slog"
	"net/http"
)

// site is what both portals share: the login links and sessions, the
// rendering of pages and errors, and the check of every request.
type site struct {
	name   string // "provider" or "patient"
	who    string // the key's owner, short
	access *access
	log    *slog.Logger
}

// LoginPath returns a new one-time login link's path (with its token), to
// be printed where only the portal's operator sees it.
func (p *site) LoginPath() string { return "/login?token=" + p.access.newLogin() }

// authed wraps a handler that needs a session; a state-changing request
// also needs its session's CSRF token.
func (p *site) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := p.access.session(r)
		if err != nil {
			p.fail(w, r, http.StatusUnauthorized, "Not logged in", "Open the login link that the portal printed when it started.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := checkCSRF(r, s); err != nil {
				p.fail(w, r, http.StatusForbidden, "Refused", err.Error())
				return
			}
		}
		h(w, r, s)
	}
}

func (p *site) login(w http.ResponseWriter, r *http.Request) {
	id, err := p.access.login(r.URL.Query().Get("token"))
	if err != nil {
		p.fail(w, r, http.StatusUnauthorized, "Login refused", err.Error()+". Ask the portal's operator for a new link (the portal prints one at start, and another on SIGHUP).")
		return
	}
	p.access.setCookie(w, id)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (p *site) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	p.access.logout(r)
	p.fail(w, r, http.StatusOK, "Logged out", "Open a new login link to come back.")
}

// fail renders an error page (or, for htmx, a fragment) with status.
func (p *site) fail(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		pages().ExecuteTemplate(w, "flash", flash{Error: true, Text: title + ": " + detail})
		return
	}
	p.render(w, status, "error", page{Title: title, Data: detail})
}

func (p *site) page(s *session, title string, data any) page {
	pg := page{Title: title, Who: p.who, Portal: p.name, Data: data}
	if s != nil {
		pg.CSRF = s.csrf
	}
	return pg
}

func (p *site) render(w http.ResponseWriter, status int, name string, pg page) {
	var b bytes.Buffer
	if err := pages().ExecuteTemplate(&b, name, pg); err != nil {
		p.log.Error("portal: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func (p *site) flash(w http.ResponseWriter, status int, f flash) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	pages().ExecuteTemplate(w, "flash", f)
}

// mount adds what both portals serve: their static files, /healthz, and
// the login and logout.
func (p *site) mount(m *http.ServeMux) {
	m.Handle("GET /static/", staticHandler())
	m.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /login", p.login)
	m.HandleFunc("POST /logout", p.authed(p.logout))
}
