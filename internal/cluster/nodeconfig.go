package cluster

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/pullguard/pullguard/internal/keychain"
)

// fileKeychain is a docker config file re-read when it changes. Mounted
// secrets change by an atomic symlink swap, which os.Stat follows.
type fileKeychain struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	loaded  bool
	cfg     *keychain.Config
	err     error
}

func (f *fileKeychain) source() string { return "docker config " + f.path }

// load returns the file's docker config, parsing it again only when its
// modification time or size changed since the last read. It is read in the
// layout the kubelet reads a file of that name in (keychain.FileFormat).
func (f *fileKeychain) load() (*keychain.Config, error) {
	info, statErr := os.Stat(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if statErr != nil {
		f.loaded, f.cfg, f.err = false, nil, fmt.Errorf("read %q: %w", f.path, statErr)
		return nil, f.err
	}
	if f.loaded && info.ModTime().Equal(f.modTime) && info.Size() == f.size {
		return f.cfg, f.err
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		f.loaded, f.cfg, f.err = false, nil, fmt.Errorf("read %q: %w", f.path, err)
		return nil, f.err
	}
	f.cfg, f.err = keychain.Parse(data, f.source(), keychain.FileFormat(f.path))
	f.loaded, f.modTime, f.size = true, info.ModTime(), info.Size()
	return f.cfg, f.err
}
