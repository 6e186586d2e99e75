package desired_test

import (
	"os"
	"path/filepath"
)

func readExample(f string) (string, error) {
	data, err := os.ReadFile(filepath.Join("..", "examples", "docker-stack", f))
	return string(data), err
}
