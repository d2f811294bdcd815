package certs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The layout is the kubelet's for mounted Secrets, which certwatcher is
// made for: tls.crt -> ..data/tls.crt, ..data -> ..data-<random>/. One
// rename of ..data swaps certificate and key together, so the webhook
// server never reads a certificate with the other one's key.
const (
	dataLink     = "..data"
	dataDirGlob  = "..data-"
	tmpLinkName  = "..data_tmp"
	certFileMode = 0o644
	keyFileMode  = 0o600
)

// writeFiles puts cert and key into dir as tls.crt and tls.key, atomically,
// and reports whether anything changed.
func writeFiles(dir string, cert, key []byte) (bool, error) {
	files := []struct {
		name string
		data []byte
		mode fs.FileMode
	}{{keyCert, cert, certFileMode}, {keyKey, key, keyFileMode}}
	same := true
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil || !bytes.Equal(got, f.data) {
			same = false
		}
	}
	if same {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("create certificate directory: %w", err)
	}
	dataDir, err := os.MkdirTemp(dir, dataDirGlob)
	if err != nil {
		return false, fmt.Errorf("create certificate directory: %w", err)
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dataDir, f.name), f.data, f.mode); err != nil {
			_ = os.RemoveAll(dataDir)
			return false, err
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	if err := replaceSymlink(dir, dataLink, filepath.Base(dataDir)); err != nil {
		_ = os.RemoveAll(dataDir)
		return false, err
	}
	for _, f := range files {
		target := filepath.Join(dataLink, f.name)
		if got, err := os.Readlink(filepath.Join(dir, f.name)); err == nil && got == target {
			continue
		}
		// A regular file (an older layout, or a copy) is replaced too.
		if err := replaceSymlink(dir, f.name, target); err != nil {
			return false, err
		}
	}
	if old != "" && old != filepath.Base(dataDir) && strings.HasPrefix(old, dataDirGlob) && !strings.ContainsRune(old, filepath.Separator) {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			return true, fmt.Errorf("remove old certificate files: %w", err)
		}
	}
	return true, nil
}

// replaceSymlink points dir/name at target through a rename, which
// replaces atomically whatever was there.
func replaceSymlink(dir, name, target string) error {
	tmp := filepath.Join(dir, tmpLinkName)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale link: %w", err)
	}
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link certificate files: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("link certificate files: %w", err)
	}
	return nil
}

func writeFile(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
