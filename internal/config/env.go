package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Env reads variables through a getenv function and collects every problem,
// so a start-up reports all of them at once. The operator's and the platform
// API's configurations both read through it.
type Env struct {
	Getenv func(string) string
	errs   []error
}

// Err joins every problem found so far.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// Fail records a problem.
func (e *Env) Fail(err error) { e.errs = append(e.errs, err) }

// Get returns the variable, trimmed, or def when it is empty.
func (e *Env) Get(name, def string) string {
	if v := strings.TrimSpace(e.Getenv(name)); v != "" {
		return v
	}
	return def
}

// Required returns the variable or records that it is missing, with hint
// saying what to set it to.
func (e *Env) Required(name, hint string) string {
	v := e.Get(name, "")
	if v == "" {
		e.Fail(fmt.Errorf("%s is not set: %s", name, hint))
	}
	return v
}

// Int returns a positive whole number.
func (e *Env) Int(name string, def int) int {
	v := e.Get(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		e.Fail(fmt.Errorf("%s=%q: want a positive whole number", name, v))
		return def
	}
	return n
}

// Float returns a number that is zero or more.
func (e *Env) Float(name string, def float64) float64 {
	v := e.Get(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	// ParseFloat takes NaN and Inf, which no price or limit can be.
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		e.Fail(fmt.Errorf("%s=%q: want a number of zero or more, such as 0.035", name, v))
		return def
	}
	return f
}

// Bool returns true or false.
func (e *Env) Bool(name string, def bool) bool {
	switch v := strings.ToLower(e.Get(name, "")); v {
	case "":
		return def
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	default:
		e.Fail(fmt.Errorf("%s=%q: want true or false", name, v))
		return def
	}
}

// Duration returns a positive Go duration.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v := e.Get(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.Fail(fmt.Errorf("%s=%q: want a positive duration such as 30s, 5m or 2h", name, v))
		return def
	}
	return d
}

// List returns a comma-separated list without empty items.
func (e *Env) List(name string) []string {
	var out []string
	for _, s := range strings.Split(e.Get(name, ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
