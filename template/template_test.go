package template

import (
	"errors"
	"strings"
	"testing"
)

func testData() Data {
	return Data{
		Vars: map[string]any{
			"redis_port":      "6379",
			"redis_maxmemory": "512mb",
			"app_tag":         "v2.1.0",
			"evil":            "$(rm -rf /); `id` {{ .Vars.app_tag }} << .Vars.app_tag >> '\"\\",
			"enabled":         "true",
			"list":            []any{"a", "b"},
			"nested":          map[string]any{"k": "v"},
		},
		Host:        map[string]any{"Name": "web1.app.example.com", "Address": "10.77.0.11", "Labels": map[string]any{"tier": "web"}},
		Environment: "production",
	}
}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "redis:7-alpine", "redis:7-alpine"},
		{"empty", "", ""},
		{"braces", "redis://localhost:{{ .Vars.redis_port }}", "redis://localhost:6379"},
		{"angles", "redis://localhost:<< .Vars.redis_port >>", "redis://localhost:6379"},
		{"no spaces", "{{.Vars.app_tag}}<<.Vars.app_tag>>", "v2.1.0v2.1.0"},
		{"both delimiters", "a={{ .Vars.app_tag }} b=<< .Vars.redis_port >> c", "a=v2.1.0 b=6379 c"},
		{"command", "redis-server --maxmemory {{ .Vars.redis_maxmemory }}", "redis-server --maxmemory 512mb"},
		{"host and env", "{{ .Host.Name }}/{{ .Environment }}/<< .Host.Labels.tier >>", "web1.app.example.com/production/web"},
		{"heredoc", "cat <<EOF > /etc/x\nport={{ .Vars.redis_port }}\nEOF\n", "cat <<EOF > /etc/x\nport=6379\nEOF\n"},
		{"heredoc dash", "cat <<-EOF\n\tx\n\tEOF", "cat <<-EOF\n\tx\n\tEOF"},
		{"heredoc quoted", "cat << 'EOF'\n$HOME\nEOF", "cat << 'EOF'\n$HOME\nEOF"},
		{"heredoc double quoted", "cat << \"EOF\" >> log\nEOF", "cat << \"EOF\" >> log\nEOF"},
		{"heredoc then append", "cat <<END >> /var/log/x\nEND", "cat <<END >> /var/log/x\nEND"},
		{"here-string", `cat <<< "$x" >> f`, `cat <<< "$x" >> f`},
		{"shell vars", "DATABASE_URL: \"${DATABASE_URL}\" $HOME ${X:-y}", "DATABASE_URL: \"${DATABASE_URL}\" $HOME ${X:-y}"},
		{"redirections", "echo a >> /tmp/log 2>&1", "echo a >> /tmp/log 2>&1"},
		{"shift", "echo $((1 << 4)) and a << b >> c", "echo $((1 << 4)) and a << b >> c"},
		{"word after <<", "x << endpoint >> y", "x << endpoint >> y"},
		{"<< not closed on line", "cat << .Vars.x\n>>", "cat << .Vars.x\n>>"},
		{"shell metachars in value stay literal", "v={{ .Vars.evil }}", "v=$(rm -rf /); `id` {{ .Vars.app_tag }} << .Vars.app_tag >> '\"\\"},
		{"metachars in literal", "a\"b\\c'd`e {{ .Vars.app_tag }} %s %!", "a\"b\\c'd`e v2.1.0 %s %!"},
		{"if", "{{ if eq .Vars.enabled \"true\" }}on{{ else }}off{{ end }}", "on"},
		{"angle if", "<< if eq .Vars.enabled \"true\" >>on<< end >>", "on"},
		{"range", "{{ range .Vars.list }}[{{ . }}]{{ end }}", "[a][b]"},
		{"trim markers", "a  {{- .Vars.app_tag -}}  b", "av2.1.0b"},
		{"angle trim", "a \n<<- .Vars.app_tag ->> \n b", "av2.1.0b"},
		{"negative number is not trim", "{{-3}}", "-3"},
		{"var fallback", "{{ var \"nope\" \"dflt\" }}-{{ var \"app_tag\" }}", "dflt-v2.1.0"},
		{"has", "{{ if has \"nope\" }}y{{ else }}n{{ end }}", "n"},
		{"quote", "echo {{ quote .Vars.evil }}", "echo '$(rm -rf /); `id` {{ .Vars.app_tag }} << .Vars.app_tag >> '\\''\"\\'"},
		{"funcs", "{{ upper .Environment }} {{ join \",\" .Vars.list }} {{ replace \"-\" \"_\" \"a-b\" }}", "PRODUCTION a,b a_b"},
		{"nested var", "{{ .Vars.nested.k }}", "v"},
		{"quoted close inside action", "{{ printf \"%s}}\" .Vars.app_tag }}", "v2.1.0}}"},
		{"quoted close inside angle action", "<< printf \"%s>>\" .Vars.app_tag >>", "v2.1.0>>"},
		{"multiline braces action", "{{ .Vars.app_tag\n}}", "v2.1.0"},
		{"comment", "a{{/* note */}}b", "ab"},
		{"comment with quote", "a {{- /* it's \"odd\" }} */ -}} b", "ab"},
		{"only angles no action", "<<", "<<"},
		{"only braces-like", "{ { x } }", "{ { x } }"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render(tc.in, testData())
			if err != nil {
				t.Fatalf("Render(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("Render(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		missing  string // Expr of a *MissingError, or ""
		hint     string
		contains string
	}{
		{name: "missing var", in: "{{ .Vars.redis_prot }}", missing: ".Vars.redis_prot", hint: `did you mean "redis_port"?`},
		{name: "missing var angles", in: "x << .Vars.nope >>", missing: ".Vars.nope"},
		{name: "missing in if", in: "{{ if .Vars.nope }}x{{ end }}", missing: ".Vars.nope"},
		{name: "missing host field", in: "{{ .Host.Nmae }}", missing: ".Host.Nmae", hint: "host fields: Address, Labels, Name"},
		{name: "missing via var", in: `{{ var "nope" }}`, missing: `var "nope"`},
		{name: "unclosed braces", in: "a {{ .Vars.x", contains: "unclosed action"},
		{name: "bad syntax", in: "{{ .Vars.x ) }}", contains: "bad template"},
		{name: "unknown function", in: "{{ nosuch .Vars.x }}", contains: `function "nosuch" not defined`},
		{name: "end without if", in: "<< end >>", contains: "unexpected"},
		{name: "bad field on string", in: "{{ .Vars.app_tag.x }}", contains: "can't evaluate field x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render(tc.in, testData())
			if err == nil {
				t.Fatalf("Render(%q) = %q, want an error", tc.in, got)
			}
			var me *MissingError
			if tc.missing != "" {
				if !errors.As(err, &me) {
					t.Fatalf("Render(%q): %v (%T), want *MissingError", tc.in, err, err)
				}
				if me.Expr != tc.missing || me.Hint != tc.hint {
					t.Errorf("MissingError{Expr: %q, Hint: %q}, want {%q, %q}", me.Expr, me.Hint, tc.missing, tc.hint)
				}
				if !strings.Contains(err.Error(), tc.missing) {
					t.Errorf("error %q does not name %q", err, tc.missing)
				}
				return
			}
			if errors.As(err, &me) {
				t.Fatalf("Render(%q): unexpected MissingError %v", tc.in, err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("Render(%q) error %q, want it to contain %q", tc.in, err, tc.contains)
			}
			if strings.Contains(err.Error(), "template: value") {
				t.Errorf("error leaks the internal template name: %q", err)
			}
		})
	}
}

func TestHasActionAndCheck(t *testing.T) {
	for _, tc := range []struct {
		in       string
		action   bool
		checkErr bool
	}{
		{"plain", false, false},
		{"cat <<EOF", false, false},
		{"a << b >> c", false, false},
		{"{{ .Vars.x }}", true, false},
		{"<< .Vars.x >>", true, false},
		{"{{ .Vars.x", true, true},
		{"{{ if .Vars.x }}", true, true},
	} {
		if got := HasAction(tc.in); got != tc.action {
			t.Errorf("HasAction(%q) = %v, want %v", tc.in, got, tc.action)
		}
		if err := Check(tc.in); (err != nil) != tc.checkErr {
			t.Errorf("Check(%q) = %v, want error %v", tc.in, err, tc.checkErr)
		}
	}
}

// FuzzRender checks that rendering never panics, that a value without an
// action renders to itself, and that a variable's value is never
// re-interpreted as a template.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"{{ .Vars.a }}", "<< .Vars.a >>", "cat <<EOF\nx\nEOF", "${X}", "a >> b", "{{- .Vars.a -}}",
		"<<- .Vars.a ->>", "{{ if .Vars.a }}x{{ end }}", "{{ \"}}\" }}", "<< printf \"%s\" .Vars.a >>", "{{/* c */}}",
	} {
		f.Add(s, "{{ .Vars.a }}")
	}
	f.Fuzz(func(t *testing.T, tmpl, value string) {
		data := Data{Vars: map[string]any{"a": value}, Host: map[string]any{"Name": "h"}, Environment: "e"}
		out, err := Render(tmpl, data)
		if !HasAction(tmpl) {
			if err != nil || out != tmpl {
				t.Fatalf("Render(%q) without action = %q, %v", tmpl, out, err)
			}
		}
		// A value holding template syntax comes out verbatim.
		out, err = Render("<< .Vars.a >>", data)
		if err != nil || out != value {
			t.Fatalf("Render(.Vars.a = %q) = %q, %v", value, out, err)
		}
	})
}

func BenchmarkRender(b *testing.B) {
	data := testData()
	for b.Loop() {
		if _, err := Render("redis://localhost:{{ .Vars.redis_port }} << .Vars.app_tag >> cat <<EOF", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderPlain(b *testing.B) {
	data := testData()
	for b.Loop() {
		if _, err := Render("redis:7-alpine", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRendererCached(b *testing.B) {
	data := testData()
	r := &Renderer{}
	for b.Loop() {
		if _, err := r.Render("redis://localhost:{{ .Vars.redis_port }} << .Vars.app_tag >> cat <<EOF", data); err != nil {
			b.Fatal(err)
		}
	}
}
