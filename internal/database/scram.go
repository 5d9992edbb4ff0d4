package database

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// SCRAM-SHA-256 verifiers (RFC 5802, RFC 7677) in PostgreSQL's stored form,
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>. Computing the
// verifier here means the app's password never travels to the server, nor
// lands in its statement logs, in clear text: PostgreSQL stores a verifier
// it is given as it is.

const scramIterations = 4096 // PostgreSQL's default scram_iterations

// scramVerifier returns a new verifier of password with a fresh salt.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	stored, server, err := scramKeys(password, salt, scramIterations)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(stored), b64(server)), nil
}

// scramMatches reports whether verifier was made from password. Anything
// that is not a SCRAM-SHA-256 verifier (an MD5 hash, nothing) does not match.
func scramMatches(verifier, password string) bool {
	rest, ok := strings.CutPrefix(verifier, "SCRAM-SHA-256$")
	if !ok {
		return false
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	iterText, saltText, ok1 := strings.Cut(params, ":")
	storedText, serverText, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return false
	}
	iter, err := strconv.Atoi(iterText)
	if err != nil || iter < 1 || iter > 1<<20 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(saltText)
	wantStored, err2 := base64.StdEncoding.DecodeString(storedText)
	wantServer, err3 := base64.StdEncoding.DecodeString(serverText)
	if err1 != nil || err2 != nil || err3 != nil {
		return false
	}
	stored, server, err := scramKeys(password, salt, iter)
	return err == nil && hmac.Equal(stored, wantStored) && hmac.Equal(server, wantServer)
}

// scramKeys derives StoredKey and ServerKey. Plattr's passwords are ASCII
// letters and digits, which SASLprep leaves as they are.
func scramKeys(password string, salt []byte, iter int) (stored, server []byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	if err != nil {
		return nil, nil, err
	}
	mac := func(msg string) []byte {
		h := hmac.New(sha256.New, salted)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := sha256.Sum256(mac("Client Key"))
	return clientKey[:], mac("Server Key"), nil
}
