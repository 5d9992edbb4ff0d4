package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeTokenFile puts an API token in path for one local reader (`plattr
// dev up` hands the local site admin's token to `plattr dev env` this
// way), so the token never goes through a terminal, a pipe or a log.
// The file is readable by its owner only (0600) from the moment it
// exists, and replaces path in one rename: a reader sees the old token
// or the new one, never half of one, and a symlink planted at path is
// replaced, not followed.
func writeTokenFile(path, token string) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--out=%s: the directory %s does not exist", path, dir)
	}
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("--out=%s is a directory: name a file", path)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*") // 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
