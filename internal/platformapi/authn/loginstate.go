package authn

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// LoginCookie carries a sign-in in flight: the state, the PKCE verifier,
// the nonce and where to return, sealed (AES-GCM) with a key derived from
// the OIDC client secret, which every replica holds. Nothing is stored
// server-side until the callback, so anonymous calls to /auth/login cost
// no rows, and the state is bound to the browser that started the
// sign-in: a victim made to open an attacker's callback URL has no cookie
// sealing that state, and is not signed in as the attacker (login CSRF).
const LoginCookie = "plattr_login"

type loginState struct {
	State    string `json:"s"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"` // unix seconds
}

var errLoginState = errors.New("this sign-in expired, was already used or was started in another browser: start again at " + LoginPath)

func (o *OIDC) aead() cipher.AEAD {
	m := hmac.New(sha256.New, []byte(o.ClientSecret))
	m.Write([]byte("plattr login state v1"))
	block, _ := aes.NewCipher(m.Sum(nil)) // 32 bytes: AES-256, cannot fail
	g, _ := cipher.NewGCM(block)
	return g
}

func (o *OIDC) seal(ls loginState) string {
	plain, _ := json.Marshal(ls)
	g := o.aead()
	nonce := make([]byte, g.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(g.Seal(nonce, nonce, plain, []byte(LoginCookie)))
}

// open returns the sealed sign-in if it is intact, unexpired and for
// state.
func (o *OIDC) open(sealed, state string, now time.Time) (loginState, error) {
	var ls loginState
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	g := o.aead()
	if err != nil || len(b) < g.NonceSize() {
		return ls, errLoginState
	}
	plain, err := g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], []byte(LoginCookie))
	if err != nil || json.Unmarshal(plain, &ls) != nil {
		return ls, errLoginState
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(ls.State), []byte(state)) != 1 || now.Unix() > ls.Expires {
		return ls, errLoginState
	}
	return ls, nil
}
