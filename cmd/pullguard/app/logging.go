package app

import (
	"io"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// maxLogVerbosity is the most detailed V-level any logger of the process
// writes. pullguard's own detail is at V(1); client-go writes every API
// response body from V(8) ("Response Body", rest/request.go), and a list of
// Secrets is every pull secret's .dockerconfigjson. It logs through the
// logger it finds in the request's context — controller-runtime's, so this
// one — whatever klog's own -v says, so the cap must be on the logger.
const maxLogVerbosity = 7

// newLogger is the process logger: zap as the flags configure it, never
// more verbose than maxLogVerbosity.
func newLogger(opts *zap.Options, w io.Writer) logr.Logger {
	l := zap.New(zap.UseFlagOptions(opts), zap.WriteTo(w))
	return logr.New(cappedSink{LogSink: l.GetSink(), max: maxLogVerbosity})
}

// cappedSink turns off every V-level above max.
type cappedSink struct {
	logr.LogSink
	max int
}

func (s cappedSink) Enabled(level int) bool {
	return level <= s.max && s.LogSink.Enabled(level)
}

func (s cappedSink) Info(level int, msg string, kv ...any) {
	if level <= s.max {
		s.LogSink.Info(level, msg, kv...)
	}
}

func (s cappedSink) WithValues(kv ...any) logr.LogSink {
	return cappedSink{LogSink: s.LogSink.WithValues(kv...), max: s.max}
}

func (s cappedSink) WithName(name string) logr.LogSink {
	return cappedSink{LogSink: s.LogSink.WithName(name), max: s.max}
}

// WithCallDepth keeps zap's caller annotations right through the wrapper.
func (s cappedSink) WithCallDepth(depth int) logr.LogSink {
	if c, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return cappedSink{LogSink: c.WithCallDepth(depth), max: s.max}
	}
	return s
}
