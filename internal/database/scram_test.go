package database

import (
	"strings"
	"testing"
)

func TestSCRAMVerifier(t *testing.T) {
	v, err := scramVerifier("correct-horse-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "SCRAM-SHA-256$4096:") || strings.Contains(v, "correct-horse-1") {
		t.Fatalf("verifier %q", v)
	}
	if !scramMatches(v, "correct-horse-1") {
		t.Error("a verifier does not match its own password")
	}
	for _, bad := range []string{"", "md5abc", "SCRAM-SHA-256$x", "SCRAM-SHA-256$4096:!!$a:b", v[:len(v)-4]} {
		if scramMatches(bad, "correct-horse-1") {
			t.Errorf("scramMatches(%q) = true", bad)
		}
	}
	if scramMatches(v, "correct-horse-2") {
		t.Error("a verifier matches another password")
	}
	w, _ := scramVerifier("correct-horse-1")
	if w == v {
		t.Error("two verifiers of one password share a salt")
	}
}
