// Command webapp is the lab's stand-in for the documentation's application
// images (myregistry.example.com/webapp and myregistry.example.com/api).
//
// It answers GET /health with 200 "ok" and GET /version with the version it
// was built with (-ldflags "-X main.version=2.1.0"), listens on :8080 (or
// LISTEN_ADDR), and reads REDIS_URL and DATABASE_URL without needing them.
// It never prints the value of DATABASE_URL, only whether it is set.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
)

// version is set at build time by the lab's image builder.
var version = "dev"

type info struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Hostname    string `json:"hostname"`
	RedisURL    string `json:"redis_url,omitempty"`
	DatabaseSet bool   `json:"database_url_set"`
}

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	name := envOr("APP_NAME", "webapp")
	addr := envOr("LISTEN_ADDR", ":8080")
	host, _ := os.Hostname()

	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, version)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info{
			Name:        name,
			Version:     version,
			Hostname:    host,
			RedisURL:    os.Getenv("REDIS_URL"),
			DatabaseSet: os.Getenv("DATABASE_URL") != "",
		})
	})
	log.Printf("%s %s listening on %s", name, version, addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
