package report

import _ "embed"

// Schema is the JSON schema of the --output json document.
//
//go:embed schema.json
var Schema []byte
