package secrets

import (
	"context"
	"fmt"
	"strings"
)

// EnvPrefix starts the name of every environment variable the
// environment backend reads.
const EnvPrefix = "VIGO_SECRET_"

// EnvName maps a secret path to the environment variable the environment
// backend reads: EnvPrefix followed by the path in upper case with every
// character other than A-Z and 0-9 replaced by "_".
//
//	vigo/webapp/database_url  ->  VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL
//
// Distinct paths can map to one name (a/b and a_b); name paths so that
// they do not.
func EnvName(path string) string {
	var b strings.Builder
	b.Grow(len(EnvPrefix) + len(path))
	b.WriteString(EnvPrefix)
	for _, r := range strings.ToUpper(path) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// EnvBackend reads secrets from environment variables named by EnvName.
// A variable that is set but empty counts as missing: CI systems expand an
// unset secret to "", and a push must not deploy an empty password.
type EnvBackend struct {
	// LookupEnv is os.LookupEnv or a test's map.
	LookupEnv func(string) (string, bool)
}

// Get implements Backend.
func (e EnvBackend) Get(_ context.Context, path string) (string, error) {
	name := EnvName(path)
	if e.LookupEnv != nil {
		if v, ok := e.LookupEnv(name); ok && v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w (%s)", ErrNotFound, e.Where(path))
}

// Where says where the backend looks for path.
func (e EnvBackend) Where(path string) string {
	return "environment variable " + EnvName(path) + " is not set"
}

func (EnvBackend) String() string { return "env" }
