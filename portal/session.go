package portal

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Errors of the portal's access control.
var (
	// ErrLogin: the login link is unknown, used or expired.
	ErrLogin = errors.New("login link unknown, already used or expired")
	// ErrSession: the request carries no valid session cookie.
	ErrSession = errors.New("not logged in")
	// ErrCSRF: a form or a script posted without its session's CSRF token,
	// or from another origin.
	ErrCSRF = errors.New("missing or wrong CSRF token")
)

// Bounds of the access control.
const (
	// LoginTTL is how long a login link stays valid before its first use.
	LoginTTL = 15 * time.Minute
	// SessionTTL is how long a session lasts after its last request.
	SessionTTL = 12 * time.Hour
	// maxLogins and maxSessions bound the tables; when full, the oldest
	// entry goes.
	maxLogins   = 64
	maxSessions = 1024
)

// cookiePrefix starts the session cookie's name, which ends with the
// portal's kind: cookies are per host, not per port, and a browser may hold
// sessions of both portals of one host. On TLS the name is "__Host-"
// prefixed, which browsers accept only with Secure, Path=/ and no Domain.
const cookiePrefix = "vitalchain_session_"

// session is one browser's login.
type session struct {
	csrf string    // the token every form and script sends back
	seen time.Time // last request
}

// access holds the one-time login links and the sessions of one portal.
// A login link is printed on the terminal that started the portal, as
// Jupyter does; following it once opens a session in a secure, HTTP-only,
// same-site cookie.
type access struct {
	kind   string // "provider" or "patient": the cookie's name ends with it
	secure bool   // served over TLS: the cookie is Secure and __Host- prefixed
	now    func() time.Time

	mu       sync.Mutex
	logins   map[string]time.Time // token → issued
	sessions map[string]*session  // session ID → session
}

func newAccess(kind string, secure bool, now func() time.Time) *access {
	return &access{kind: kind, secure: secure, now: now, logins: map[string]time.Time{}, sessions: map[string]*session{}}
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newLogin issues a one-time login token.
func (a *access) newLogin() string {
	t := randomToken()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.logins) >= maxLogins {
		evictOldest(a.logins, func(t time.Time) time.Time { return t })
	}
	a.logins[t] = a.now()
	return t
}

// login spends a login token and returns a new session's ID.
func (a *access) login(token string) (string, error) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	var found string
	for t, issued := range a.logins {
		// Constant time: a token is a secret, compared with each.
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			if now.Sub(issued) <= LoginTTL {
				found = t
			}
			delete(a.logins, t)
		}
	}
	if found == "" {
		return "", ErrLogin
	}
	if len(a.sessions) >= maxSessions {
		evictOldest(a.sessions, func(s *session) time.Time { return s.seen })
	}
	id := randomToken()
	a.sessions[id] = &session{csrf: randomToken(), seen: now}
	return id, nil
}

// session returns the request's session, or ErrSession.
func (a *access) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(a.cookie())
	if err != nil {
		return nil, ErrSession
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s == nil {
		return nil, ErrSession
	}
	if now.Sub(s.seen) > SessionTTL {
		delete(a.sessions, c.Value)
		return nil, ErrSession
	}
	s.seen = now
	cp := *s
	return &cp, nil
}

// logout ends the request's session.
func (a *access) logout(r *http.Request) {
	if c, err := r.Cookie(a.cookie()); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
}

func (a *access) cookie() string {
	if a.secure {
		return "__Host-" + cookiePrefix + a.kind
	}
	return cookiePrefix + a.kind
}

// setCookie gives the browser its session.
func (a *access) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: a.cookie(), Value: id, Path: "/", HttpOnly: true, Secure: a.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL / time.Second)})
}

// checkCSRF checks a state-changing request: its CSRF token (the form's
// csrf field or the X-CSRF-Token header, as htmx sends it) must be its
// session's, and an Origin header, if any, must be this host.
func checkCSRF(r *http.Request, s *session) error {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return ErrCSRF
		}
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) != 1 {
		return ErrCSRF
	}
	return nil
}

// evictOldest deletes the entry of m whose time is the oldest.
func evictOldest[V any](m map[string]V, at func(V) time.Time) {
	var oldest string
	var t time.Time
	for k, v := range m {
		if oldest == "" || at(v).Before(t) {
			oldest, t = k, at(v)
		}
	}
	delete(m, oldest)
}
