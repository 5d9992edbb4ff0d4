package platformapi_test

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/testenv"
)

// toCallback signs in at Dex with hc and stops where Dex sends the
// browser back to the API: it returns that callback URL, unopened.
func toCallback(t *testing.T, hc *http.Client, returnTo string) string {
	t.Helper()
	var callback string
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == authn.CallbackPath {
			callback = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := hc.Get(apiA.URL + authn.LoginPath + "?return_to=" + url.QueryEscape(returnTo))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formAction.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no login form at %s: HTTP %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.PostForm(action.String(), url.Values{"login": {testenv.TestUserEmail}, "password": {testenv.TestUserPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if callback == "" {
		t.Fatalf("Dex did not send the browser back to the API (last at %s, HTTP %d)", resp.Request.URL, resp.StatusCode)
	}
	return callback
}

func newBrowserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

func hasSession(c *http.Client) bool {
	u, _ := url.Parse(apiA.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == authn.SessionCookie && ck.Value != "" {
			return true
		}
	}
	return false
}

// Login CSRF: the attacker signs in as themself, stops before the callback
// and makes a victim's browser open the callback URL. The victim must not
// end up signed in (as the attacker); the attacker's own browser still
// finishes its sign-in.
func TestSignInStateIsBoundToTheBrowser(t *testing.T) {
	attacker := newBrowserClient()
	callback := toCallback(t, attacker, "/api/v1/me")

	victim := newBrowserClient()
	victim.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := victim.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if hasSession(victim) || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a victim opening the attacker's callback URL: HTTP %d, session cookie %t: %s", resp.StatusCode, hasSession(victim), body)
	}
	if !strings.Contains(string(body), "another browser") {
		t.Errorf("the refusal does not say why: %s", body)
	}

	// Transition: the browser that started the sign-in finishes it, once.
	attacker.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = attacker.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !hasSession(attacker) || resp.Header.Get("Location") != "/api/v1/me" {
		t.Fatalf("the sign-in's own browser: HTTP %d at %q, session %t", resp.StatusCode, resp.Header.Get("Location"), hasSession(attacker))
	}
	again, err := attacker.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != http.StatusBadRequest {
		t.Fatalf("the same callback a second time: HTTP %d", again.StatusCode)
	}
}

// return_to values browsers follow to another host end at a path on this
// site; a plain path is kept.
func TestSignInReturnToStaysOnSite(t *testing.T) {
	api, _ := url.Parse(apiA.URL)
	for _, rt := range []string{`/\evil.com`, "//evil.com", "/\t/evil.com", "https://evil.com", "/%5cevil.com", `/\/evil.com`, "/apps?x=1"} {
		hc := newBrowserClient()
		callback := toCallback(t, hc, rt)
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := hc.Get(callback)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		target, err := api.Parse(loc)
		bad := err != nil || resp.StatusCode != http.StatusFound || target.Host != api.Host ||
			!strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t\r\n")
		if bad {
			t.Errorf("return_to=%q: HTTP %d, Location %q", rt, resp.StatusCode, loc)
		}
		if rt == "/apps?x=1" && loc != rt {
			t.Errorf("return_to=%q: Location %q, want it kept", rt, loc)
		}
	}
}

// Anonymous calls to /auth/login store nothing and are rate-limited per
// client address.
func TestAnonymousSignInsStoreNothingAndAreLimited(t *testing.T) {
	ctx := context.Background()
	count := func() int {
		var n int
		if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM login_states").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	codes := map[int]int{}
	// Replica B: the other tests sign in on A, whose budget this leaves alone.
	for i := 0; i < 300; i++ {
		resp, err := noFollow.Get(apiB.URL + authn.LoginPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if rows := count() - before; rows != 0 {
		t.Errorf("300 anonymous sign-ins stored %d rows", rows)
	}
	if codes[http.StatusFound] > testLoginRate+2 || codes[http.StatusTooManyRequests] < 300-testLoginRate-2 {
		t.Errorf("300 sign-ins from one address at a limit of %d a minute: %v", testLoginRate, codes)
	}
}

// streamEvent is one server-sent event, with or without an id.
type streamEvent struct{ ID, Kind, Data string }

// openStream opens /api/v1/events with hdr and returns the status and,
// for 200, the events; the channel closes when the server ends the stream.
func openStream(t *testing.T, base string, hdr http.Header) (int, <-chan streamEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/events", nil)
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return resp.StatusCode, nil, cancel
	}
	out := make(chan streamEvent, 1000)
	go func() {
		defer close(out)
		readEvents(resp.Body, func(ev streamEvent) { out <- ev })
	}()
	return 200, out, cancel
}

// readEvents parses a server-sent event stream until it ends, handing
// each event (id, event and data lines up to a blank line) to emit, and
// closes body.
func readEvents(body io.ReadCloser, emit func(streamEvent)) {
	defer body.Close()
	sc := bufio.NewScanner(body)
	var ev streamEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.Data = line[6:]
		case line == "" && (ev.ID != "" || ev.Kind != ""):
			emit(ev)
			ev = streamEvent{}
		}
	}
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// waitClosed waits (generously) for the server to end a stream.
func waitClosed(t *testing.T, ch <-chan streamEvent, within time.Duration, what string) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: the stream is still open after %s", what, within)
		}
	}
}

// One user holds at most STREAM_MAX_PER_USER streams on a replica.
func TestEventStreamsPerUserAreCapped(t *testing.T) {
	c := asUser(t, "many-tabs@plattr.test")
	var cancels []context.CancelFunc
	defer func() {
		for _, f := range cancels {
			f()
		}
	}()
	for i := 0; i < testStreamMax; i++ {
		code, _, cancel := openStream(t, apiA.URL, bearer(c.token))
		cancels = append(cancels, cancel)
		if code != 200 {
			t.Fatalf("stream %d: HTTP %d", i+1, code)
		}
	}
	code, _, cancel := openStream(t, apiA.URL, bearer(c.token))
	cancels = append(cancels, cancel)
	if code != http.StatusTooManyRequests {
		t.Fatalf("stream %d of a user capped at %d: HTTP %d", testStreamMax+1, testStreamMax, code)
	}
	// Another user is not affected; closing one frees a slot.
	if code, _, cancel := openStream(t, apiA.URL, bearer(asUser(t, "one-tab@plattr.test").token)); code != 200 {
		t.Fatalf("another user's stream: HTTP %d", code)
	} else {
		cancels = append(cancels, cancel)
	}
	cancels[0]()
	eventually(t, 10*time.Second, "a slot freed", func() error {
		code, _, cancel := openStream(t, apiA.URL, bearer(c.token))
		cancels = append(cancels, cancel)
		if code != 200 {
			return fmt.Errorf("HTTP %d", code)
		}
		return nil
	})
}

// A stream ends when its token is revoked (on either replica), when its
// token expires, when its session is signed out, and when its user stops
// being a site admin; a role taken away stops that namespace's events at
// once.
func TestEventStreamEndsWithItsCredentials(t *testing.T) {
	ctx := context.Background()
	c := asUser(t, "revoked-stream@plattr.test")
	var tok struct {
		Token string `json:"token"`
		Info  struct {
			ID int64 `json:"id"`
		} `json:"info"`
	}
	c.must(t, 201, "POST", "/api/v1/tokens", map[string]any{"name": "stream"}, &tok)
	_, onA, stopA := openStream(t, apiA.URL, bearer(tok.Token))
	defer stopA()
	_, onB, stopB := openStream(t, apiB.URL, bearer(tok.Token))
	defer stopB()
	c.must(t, 204, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok.Info.ID), nil, nil)
	waitClosed(t, onA, 10*time.Second, "token revoked (replica A)")
	waitClosed(t, onB, 10*time.Second, "token revoked (replica B)")
	if code, _, _ := openStream(t, apiA.URL, bearer(tok.Token)); code != 401 {
		t.Fatalf("reconnecting with the revoked token: HTTP %d", code)
	}

	// Expiry notifies nothing: the periodic check ends it.
	var short struct {
		Token string `json:"token"`
	}
	c.must(t, 201, "POST", "/api/v1/tokens", map[string]any{"name": "short", "expiresIn": "2s"}, &short)
	_, exp, stopE := openStream(t, apiA.URL, bearer(short.Token))
	defer stopE()
	waitClosed(t, exp, 15*time.Second, "token expired")

	// A browser session signed out.
	hc, resp := signIn(t, testenv.TestUserEmail, testenv.TestUserPassword)
	resp.Body.Close()
	u, _ := url.Parse(apiA.URL)
	var session string
	for _, ck := range hc.Jar.Cookies(u) {
		if ck.Name == authn.SessionCookie {
			session = ck.Value
		}
	}
	cookie := http.Header{"Cookie": {authn.SessionCookie + "=" + session}}
	_, bySession, stopS := openStream(t, apiB.URL, cookie)
	defer stopS()
	req, _ := http.NewRequest("POST", apiA.URL+authn.LogoutPath, nil)
	req.AddCookie(&http.Cookie{Name: authn.SessionCookie, Value: session})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if r, err := noFollow.Do(req); err != nil {
		t.Fatal(err)
	} else {
		r.Body.Close()
	}
	waitClosed(t, bySession, 10*time.Second, "signed out")

	// Site admin taken away: the stream ends, the reconnect sees less.
	boss := asUser(t, "former-admin@plattr.test")
	if _, err := db.Pool.Exec(ctx, "UPDATE users SET site_admin = true WHERE email = 'former-admin@plattr.test'"); err != nil {
		t.Fatal(err)
	}
	_, asAdmin, stopAd := openStream(t, apiA.URL, bearer(boss.token))
	defer stopAd()
	if _, err := db.Pool.Exec(ctx, "UPDATE users SET site_admin = false WHERE email = 'former-admin@plattr.test'"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, asAdmin, 10*time.Second, "site admin taken away")

	// A role taken away: that namespace's events stop on the open stream.
	member := asUser(t, "leaver@plattr.test")
	if err := db.SetEnvironmentRole(ctx, "team-a", "leaver@plattr.test", authz.EnvUser); err != nil {
		t.Fatal(err)
	}
	_, live, stopL := openStream(t, apiA.URL, bearer(member.token))
	defer stopL()
	publish := func(marker string) {
		if _, err := db.Pool.Exec(ctx, "SELECT publish_event('status', 'team-a', 'leaver-app', jsonb_build_object('marker', $1::text))", marker); err != nil {
			t.Fatal(err)
		}
	}
	seen := func(marker string, within time.Duration) bool {
		deadline := time.After(within)
		for {
			select {
			case e, ok := <-live:
				if !ok {
					t.Fatal("the stream ended")
				}
				if strings.Contains(e.Data, marker) {
					return true
				}
			case <-deadline:
				return false
			}
		}
	}
	publish("before-removal")
	if !seen("before-removal", 5*time.Second) {
		t.Fatal("a member did not see its namespace's event")
	}
	if err := db.RemoveEnvironmentRole(ctx, "team-a", "leaver@plattr.test"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the roles event reaches the stream first
	publish("after-removal")
	if seen("after-removal", 2*time.Second) {
		t.Fatal("an event of a namespace whose role was taken away reached the stream")
	}
}

// A client resuming from far behind (lastEventId=0, or events already
// pruned) is not replayed the whole feed: it is told to reload, and its
// cursor moves to the present.
func TestEventStreamReplayIsCapped(t *testing.T) {
	ctx := context.Background()
	adminC := admin(t)
	// A live stream first: once it has the burst's last event, the
	// replica's hub has it too.
	_, live, stopLive := openStream(t, apiA.URL, bearer(adminC.token))
	defer stopLive()
	for i := 0; i < testStreamReplay+10; i++ {
		if _, err := db.Pool.Exec(ctx, "SELECT publish_event('status', 'team-a', 'replay-app', '{}'::jsonb)"); err != nil {
			t.Fatal(err)
		}
	}
	var last int64
	if err := db.Pool.QueryRow(ctx, "SELECT max(id) FROM events").Scan(&last); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(last)
	deadline := time.After(10 * time.Second)
	for caught := false; !caught; {
		select {
		case e, ok := <-live:
			if !ok {
				t.Fatal("the live stream closed")
			}
			caught = e.ID == want
		case <-deadline:
			t.Fatalf("the live stream did not get event %d within 10s", last)
		}
	}
	_, ch, stop := openStream(t, apiA.URL, http.Header{"Authorization": {"Bearer " + adminC.token}, "Last-Event-ID": {"0"}})
	defer stop()
	var replayed int
	deadline = time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatal("stream closed")
			}
			if e.Kind == "reload" {
				if replayed > 0 {
					t.Fatalf("reload after %d replayed events", replayed)
				}
				continue
			}
			if e.Kind == "" { // the cursor
				var id int64
				_, _ = fmt.Sscan(e.ID, &id)
				if id < last {
					t.Fatalf("cursor %d after the replay, want at least %d; %d events replayed", id, last, replayed)
				}
				if replayed > testStreamReplay {
					t.Fatalf("replayed %d events, cap %d", replayed, testStreamReplay)
				}
				return
			}
			replayed++
		case <-deadline:
			t.Fatalf("no cursor within 10s; %d events replayed", replayed)
		}
	}
}

// /metrics is not on the API's address; the cluster report is for site
// admins; internal errors say nothing of the internals.
func TestInformationStaysInside(t *testing.T) {
	resp, err := http.Get(apiA.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 200 || strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("anonymous /metrics on the API's address: HTTP %d", resp.StatusCode)
	}
	user := asUser(t, "curious@plattr.test")
	if code, body := user.do(t, "GET", "/api/v1/clusters", nil, nil); code != 403 || strings.Contains(body, "nodes") {
		t.Fatalf("clusters as a plain user: HTTP %d %s", code, body)
	}
	admin(t).must(t, 200, "GET", "/api/v1/clusters", nil, nil)

	// Token lifetimes are capped by the site (TOKEN_MAX_TTL).
	for _, in := range []string{"never", "31d", "1000h"} {
		if code, body := user.do(t, "POST", "/api/v1/tokens", map[string]any{"name": "long", "expiresIn": in}, nil); code != 400 || !strings.Contains(body, `"field":"expiresIn"`) {
			t.Errorf("expiresIn=%s with a cap of 30d: HTTP %d %s", in, code, body)
		}
	}
	var ok struct {
		Info struct {
			ExpiresAt *time.Time `json:"expiresAt"`
		} `json:"info"`
	}
	user.must(t, 201, "POST", "/api/v1/tokens", map[string]any{"name": "default"}, &ok)
	if ok.Info.ExpiresAt == nil || time.Until(*ok.Info.ExpiresAt) > testTokenMaxTTL {
		t.Fatalf("a token without expiresIn: expires %v, want within the 30d cap", ok.Info.ExpiresAt)
	}
	user.must(t, 201, "POST", "/api/v1/tokens", map[string]any{"name": "month", "expiresIn": "30d"}, nil)
}

// A client that stops reading is dropped once a write has waited
// STREAM_WRITE_TIMEOUT (2s in the suite): its connection closes, rather
// than a goroutine waiting on it for ever.
func TestEventStreamDropsAClientThatStopsReading(t *testing.T) {
	ctx := context.Background()
	c := asUser(t, "stalled@plattr.test")
	if err := db.SetEnvironmentRole(ctx, "team-a", "stalled@plattr.test", authz.EnvUser); err != nil {
		t.Fatal(err)
	}
	// A small receive window, so the server's writes block soon.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(apiA.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/events HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer %s\r\n\r\n", c.token)
	time.Sleep(500 * time.Millisecond)
	// Far more than the socket buffers hold (12 MB), in fewer events than
	// the hub buffers per client, so the write itself must time out.
	if _, err := db.Pool.Exec(ctx, `SELECT publish_event('status', 'team-a', 'stalled-app', jsonb_build_object('pad', repeat('x', 40000)))
		FROM generate_series(1, 300)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second) // the client reads nothing meanwhile
	// Now read: the server must have closed the connection (EOF after
	// what was buffered), not be waiting to write more of the stream.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	if err != nil {
		t.Fatalf("the server kept the stalled stream open (read %d bytes, then %v)", n, err)
	}
}
