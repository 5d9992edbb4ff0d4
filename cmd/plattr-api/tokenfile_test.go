package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "api.token")

	// A first token: owner-only, the token and a newline.
	if err := writeTokenFile(path, "plattr_first"); err != nil {
		t.Fatal(err)
	}
	assertToken(t, path, "plattr_first")

	// A pre-existing world-readable file is replaced by an owner-only one.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeTokenFile(path, "plattr_second"); err != nil {
		t.Fatal(err)
	}
	assertToken(t, path, "plattr_second")

	// A symlink planted at path (to a file the attacker reads, or one the
	// user owns elsewhere) is replaced, not written through.
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte("untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := writeTokenFile(path, "plattr_third"); err != nil {
		t.Fatal(err)
	}
	assertToken(t, path, "plattr_third")
	if b, _ := os.ReadFile(target); string(b) != "untouched\n" {
		t.Errorf("the token went through the symlink into %s: %q", target, b)
	}

	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("files left in %s: %v", dir, entries)
	}

	// Bad paths are refused with the flag named.
	for _, bad := range []string{dir, filepath.Join(dir, "missing", "api.token")} {
		if err := writeTokenFile(bad, "plattr_x"); err == nil || !strings.Contains(err.Error(), "--out") {
			t.Errorf("writeTokenFile(%s) = %v, want an error naming --out", bad, err)
		}
	}
}

func assertToken(t *testing.T, path, want string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want a regular file with 0600", path, fi.Mode())
	}
	if b, _ := os.ReadFile(path); string(b) != want+"\n" {
		t.Errorf("%s holds %q, want %q", path, b, want+"\n")
	}
}
