package cache

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// PanicError is returned to every waiter of a flight whose fn panicked, so a
// bug in one lookup fails that lookup instead of the whole process
// (singleflight's DoChan would otherwise re-panic on a fresh goroutine).
type PanicError struct {
	Key   string
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("cache: call for key %q panicked: %v", e.Key, e.Value)
}

// TimeoutError is returned when fn did not return within maxFlight. It
// unwraps to context.DeadlineExceeded.
type TimeoutError struct {
	Key       string
	MaxFlight time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("cache: call for key %q did not finish within %s", e.Key, e.MaxFlight)
}

func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// fly runs one flight of key. Flights of one key never overlap (singleflight),
// and only flights write the LRU, so per key the store below is race free.
func (c *Cache[V]) fly(parent context.Context, key string, fn func(context.Context) (V, time.Duration, error)) entry[V] {
	// A flight that started just after another stored its result finds it
	// here instead of calling fn a second time.
	if e, ok := c.lookup(key); ok {
		return e
	}
	ctx := context.WithoutCancel(parent)
	if c.maxFlight > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.maxFlight)
		defer cancel()
	}
	val, ttl, err := c.call(ctx, key, fn)
	e := entry[V]{val: val, err: err}
	switch {
	case ttl <= 0:
		// An expired success stays for DoStale, which may serve it for
		// a while yet; an expired failure is held for nothing.
		if old, ok := c.lru.Peek(key); ok && old.err != nil {
			c.lru.Remove(key)
		}
	case ttl == Forever:
		c.lru.Add(key, e)
	default:
		e.expires = c.now().Add(ttl)
		c.lru.Add(key, e)
	}
	return e
}

type outcome[V any] struct {
	val V
	ttl time.Duration
	err error
}

// call runs fn on its own goroutine so that a fn ignoring its context still
// cannot hold the key past ctx's deadline: the flight ends with a
// *TimeoutError, later callers start a new one, and the late result is
// dropped.
func (c *Cache[V]) call(ctx context.Context, key string, fn func(context.Context) (V, time.Duration, error)) (V, time.Duration, error) {
	done := make(chan outcome[V], 1) // buffered: a late fn never blocks
	go func() {
		var o outcome[V]
		defer func() {
			if r := recover(); r != nil {
				o = outcome[V]{err: &PanicError{Key: key, Value: r, Stack: debug.Stack()}}
			}
			done <- o
		}()
		o.val, o.ttl, o.err = fn(ctx)
	}()
	select {
	case o := <-done:
		return o.val, o.ttl, o.err
	case <-ctx.Done():
		var zero V
		return zero, 0, &TimeoutError{Key: key, MaxFlight: c.maxFlight}
	}
}
