package config_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/config"
)

func repoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func known() map[string]config.Var {
	m := map[string]config.Var{}
	for _, v := range config.Vars() {
		m[v.Name] = v
	}
	return m
}

// dbScript reads the settings of scripts/db.sh that other files must agree with.
func dbScript(t *testing.T) map[string]string {
	t.Helper()
	script := string(repoFile(t, "scripts/db.sh"))
	got := map[string]string{}
	for key, re := range map[string]string{
		"pg_major": `readonly PG_MAJOR=(\d+)`,
		"pgvector": `readonly PGVECTOR_VERSION=([\d.]+)`,
		"port":     `readonly PORT=\$\{DOCENT_DB_PORT:-(\d+)\}`,
		"db":       `DB_NAME=(\w+)`,
		"user":     `DB_USER=(\w+)`,
		"password": `DB_PASSWORD=(\w+)`,
	} {
		m := regexp.MustCompile(re).FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("scripts/db.sh has no %s setting matching %s", key, re)
		}
		got[key] = m[1]
	}
	return got
}

func TestDefaultDatabaseURLIsTheLocalCluster(t *testing.T) {
	s := dbScript(t)
	want := "postgres://" + s["user"] + ":" + s["password"] + "@127.0.0.1:" + s["port"] + "/" + s["db"] + "?sslmode=disable"
	if config.DefaultDatabaseURL != want {
		t.Errorf("DefaultDatabaseURL = %s, scripts/db.sh runs %s", config.DefaultDatabaseURL, want)
	}
	if v := known()[config.DBPort]; v.Default != s["port"] {
		t.Errorf("%s default = %s, scripts/db.sh uses %s", config.DBPort, v.Default, s["port"])
	}
}

var update = flag.Bool("update", false, "rewrite the README's configuration table from Vars")

// readmeTable renders the configuration table of the README from Vars.
func readmeTable() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, v := range config.Vars() {
		def := ""
		if v.Default != "" {
			def = "`" + v.Default + "`"
			if strings.Contains(v.Default, " ") {
				def = v.Default
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, def, v.Usage)
	}
	return b.String()
}

// TestReadmeDocumentsEveryVariable: the README's configuration table is exactly the one Vars
// renders (`go test ./internal/config -update` rewrites it), and the README mentions no
// variable the code does not read.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	const begin, end = "<!-- config:begin -->\n", "<!-- config:end -->"
	readme := string(repoFile(t, "README.md"))
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q markers around the configuration table", strings.TrimSpace(begin), end)
	}
	want := readmeTable()
	if got := readme[i+len(begin) : j]; got != want {
		if *update {
			if err := os.WriteFile(filepath.Join("..", "..", "README.md"), []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README configuration table is out of date: run go test ./internal/config -update\n%s", cmp.Diff(want, got))
	}
	known := known()
	for _, name := range regexp.MustCompile(`DOCENT_[A-Z_]+`).FindAllString(readme, -1) {
		if _, ok := known[name]; !ok {
			t.Errorf("README mentions %s, which the code does not read", name)
		}
	}
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		User        string            `yaml:"user"`
		Profiles    []string          `yaml:"profiles"`
		DependsOn   map[string]any    `yaml:"depends_on"`
		Command     []string          `yaml:"command"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeAgreesWithTheCode(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal(repoFile(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var services []string
	for name, s := range c.Services {
		services = append(services, name)
		// The default services come up with `docker compose up`; the rest only with their
		// profile.
		scale := name == "db-replica" || name == "pgbouncer" || name == "server-2"
		if scale != slices.Contains(s.Profiles, "scale") {
			t.Errorf("%s: profiles %v", name, s.Profiles)
		}
	}
	slices.Sort(services)
	if diff := cmp.Diff([]string{"db", "db-replica", "ingest", "migrate", "pgbouncer", "server", "server-2"}, services); diff != "" {
		t.Fatalf("services (-want +got):\n%s", diff)
	}

	// The database image is the pgvector and PostgreSQL that scripts/db.sh provides.
	script := dbScript(t)
	db := c.Services["db"]
	if want := "pgvector/pgvector:" + script["pgvector"] + "-pg" + script["pg_major"]; db.Image != want {
		t.Errorf("db image = %s, want %s (the versions scripts/db.sh installs)", db.Image, want)
	}
	if _, ok := c.Volumes["pgdata"]; !ok || !slices.Contains(db.Volumes, "pgdata:/var/lib/postgresql/data") {
		t.Errorf("db does not keep its data in the named volume pgdata: %v", db.Volumes)
	}

	// Docent's services run one image, built once, with variables the code knows.
	vars := known()
	if c.Services["migrate"].Build == nil {
		t.Error("migrate does not build the image")
	}
	for _, name := range []string{"migrate", "server", "ingest", "server-2"} {
		s := c.Services[name]
		if s.Image != c.Services["migrate"].Image {
			t.Errorf("%s runs image %s, migrate builds %s", name, s.Image, c.Services["migrate"].Image)
		}
		for key := range s.Environment {
			if _, ok := vars[key]; !ok {
				t.Errorf("%s sets %s, which the code does not read", name, key)
			}
		}
		if name == "server-2" {
			continue // through the pooler, below
		}
		u, err := url.Parse(s.Environment[config.DatabaseURL])
		if err != nil {
			t.Fatalf("%s: %s: %v", name, config.DatabaseURL, err)
		}
		password, _ := u.User.Password()
		got := []string{u.Hostname(), u.Port(), u.User.Username(), password, strings.TrimPrefix(u.Path, "/")}
		want := []string{"db", "5432", db.Environment["POSTGRES_USER"], db.Environment["POSTGRES_PASSWORD"], db.Environment["POSTGRES_DB"]}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s's %s does not point at the db service (-want +got):\n%s", name, config.DatabaseURL, diff)
		}
		if _, err := config.NewLogger(func(k string) string { return s.Environment[k] }, io.Discard, false); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// The server listens where the port mapping and the health check expect, on a route the
	// API serves.
	server := c.Services["server"]
	_, port, err := net.SplitHostPort(server.Environment[config.Addr])
	if err != nil {
		t.Fatalf("server %s: %v", config.Addr, err)
	}
	if len(server.Ports) != 1 || !strings.HasSuffix(server.Ports[0], ":"+port) {
		t.Errorf("server ports %v do not publish container port %s", server.Ports, port)
	}
	check := strings.Join(server.Healthcheck.Test, " ")
	m := regexp.MustCompile(`http://127\.0\.0\.1:(\d+)(/\S*)`).FindStringSubmatch(check)
	if m == nil || m[1] != port {
		t.Fatalf("server health check %q does not probe port %s", check, port)
	}
	rec := httptest.NewRecorder()
	h, err := api.New(api.Config{}, nil, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, m[2], nil))
	if rec.Code != http.StatusOK {
		t.Errorf("the health check's %s answers %d, want 200", m[2], rec.Code)
	}

	checkScaleProfile(t, c, script)

	if ingest := c.Services["ingest"]; !slices.ContainsFunc(ingest.Volumes, func(v string) bool { return strings.Contains(v, ":/documents") }) {
		t.Errorf("ingest mounts no documents folder: %v", ingest.Volumes)
	}
}

// checkScaleProfile checks the `scale` profile of docker-compose.yml against scripts/db.sh,
// whose standby and PgBouncer the tests run with: the standby is a pg_basebackup of db
// through the same slot, with the same options, and serves reads; PgBouncer is Debian's
// package with db.sh's pooling settings, in front of db; server-2 writes through PgBouncer
// with cache_describe and reads from the standby, with db's credentials.
func checkScaleProfile(t *testing.T, c composeFile, script map[string]string) {
	t.Helper()
	db := c.Services["db"]
	sh := string(repoFile(t, "scripts/db.sh"))

	// db accepts the standby's replication connection.
	hba := string(repoFile(t, "docker/postgres/pg_hba.conf"))
	if !regexp.MustCompile(`(?m)^host\s+replication\s+all\s+all\s+scram-sha-256$`).MatchString(hba) ||
		!slices.Contains(db.Command, "hba_file=/etc/docent/pg_hba.conf") ||
		!slices.Contains(db.Volumes, "./docker/postgres/pg_hba.conf:/etc/docent/pg_hba.conf:ro") {
		t.Error("db does not allow the standby's replication connections (docker/postgres/pg_hba.conf, mounted and named by hba_file)")
	}

	replica := c.Services["db-replica"]
	if replica.Image != db.Image || replica.User != "postgres" {
		t.Errorf("db-replica runs %s as %q, want db's image %s as postgres", replica.Image, replica.User, db.Image)
	}
	cmd := strings.Join(replica.Command, "\n")
	slot := regexp.MustCompile(`readonly REPLICA_SLOT=(\w+)`).FindStringSubmatch(sh)
	flags := regexp.MustCompile(`pg_basebackup.* -D "\$SB_DATA" \\\n\s*(.*) "\$SB_SLOT"`).FindStringSubmatch(sh)
	if slot == nil || flags == nil {
		t.Fatal("scripts/db.sh: no REPLICA_SLOT or pg_basebackup line")
	}
	if want := flags[1] + " " + slot[1]; !strings.Contains(cmd, `-D "$$PGDATA" `+want) {
		t.Errorf("db-replica's pg_basebackup does not use scripts/db.sh's options %q:\n%s", want, cmd)
	}
	if !strings.Contains(cmd, "host=db port=5432 user="+db.Environment["POSTGRES_USER"]) ||
		replica.Environment["PGPASSWORD"] != db.Environment["POSTGRES_PASSWORD"] {
		t.Errorf("db-replica does not copy db with its credentials:\n%s", cmd)
	}
	if !strings.Contains(cmd, "hot_standby=on") || !strings.Contains(cmd, "hot_standby_feedback=on") || !strings.Contains(sh, "hot_standby_feedback = on") {
		t.Errorf("db-replica does not serve reads as scripts/db.sh's standby does:\n%s", cmd)
	}
	if !slices.ContainsFunc(replica.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/var/lib/postgresql/data") }) {
		t.Errorf("db-replica keeps no data volume: %v", replica.Volumes)
	}

	// PgBouncer: the settings of scripts/db.sh pgbouncer, which the pooler tests pass with.
	ini := iniSettings(string(repoFile(t, "docker/pgbouncer/pgbouncer.ini")))
	heredoc := sh[strings.Index(sh, "[pgbouncer]"):]
	heredoc = heredoc[:strings.Index(heredoc, "INI")]
	want := iniSettings(heredoc)
	for _, key := range []string{"auth_type", "pool_mode", "max_client_conn", "default_pool_size", "max_db_connections", "ignore_startup_parameters", "server_reset_query"} {
		if w, ok := want[key]; !ok || ini[key] != w {
			t.Errorf("docker/pgbouncer/pgbouncer.ini: %s = %q, scripts/db.sh runs %q", key, ini[key], w)
		}
	}
	if ini["*"] != "host=db port=5432" {
		t.Errorf("PgBouncer does not serve db's databases: * = %q", ini["*"])
	}
	if df := string(repoFile(t, "docker/pgbouncer/Dockerfile")); !strings.Contains(df, "FROM debian:bookworm") || !strings.Contains(df, "install -y --no-install-recommends pgbouncer") {
		t.Error("docker/pgbouncer/Dockerfile does not install Debian 12's pgbouncer, the one the tests run")
	}
	bouncer := c.Services["pgbouncer"]
	if bouncer.Build == nil || bouncer.Environment["DB_USER"] != db.Environment["POSTGRES_USER"] || bouncer.Environment["DB_PASSWORD"] != db.Environment["POSTGRES_PASSWORD"] {
		t.Errorf("pgbouncer: build %v, credentials %v", bouncer.Build, bouncer.Environment)
	}

	// server-2: writes through PgBouncer in its transaction mode, reads from the standby.
	s2 := c.Services["server-2"]
	for _, dep := range []string{"migrate", "pgbouncer", "db-replica"} {
		if _, ok := s2.DependsOn[dep]; !ok {
			t.Errorf("server-2 does not wait for %s", dep)
		}
	}
	check := func(what, raw, host, port string, params map[string]string) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("server-2 %s: %v", what, err)
		}
		password, _ := u.User.Password()
		got := []string{u.Hostname(), u.Port(), u.User.Username(), password, strings.TrimPrefix(u.Path, "/")}
		want := []string{host, port, db.Environment["POSTGRES_USER"], db.Environment["POSTGRES_PASSWORD"], db.Environment["POSTGRES_DB"]}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("server-2's %s (-want +got):\n%s", what, diff)
		}
		for k, v := range params {
			if u.Query().Get(k) != v {
				t.Errorf("server-2's %s: %s=%q, want %q", what, k, u.Query().Get(k), v)
			}
		}
	}
	check(config.DatabaseURL, s2.Environment[config.DatabaseURL], "pgbouncer", ini["listen_port"],
		map[string]string{"default_query_exec_mode": "cache_describe"})
	check("DOCENT_DATABASE_READ_URLS", s2.Environment["DOCENT_DATABASE_READ_URLS"], "db-replica", "5432", nil)
	server := c.Services["server"]
	if s2.Environment[config.Addr] != server.Environment[config.Addr] || len(s2.Ports) != 1 || s2.Ports[0] == server.Ports[0] ||
		!strings.HasSuffix(s2.Ports[0], strings.TrimPrefix(server.Ports[0], "127.0.0.1:8080")) {
		t.Errorf("server-2 listens on %s published as %v; server on %s as %v", s2.Environment[config.Addr], s2.Ports, server.Environment[config.Addr], server.Ports)
	}
	if !slices.Equal(s2.Healthcheck.Test, server.Healthcheck.Test) {
		t.Errorf("server-2's health check %v is not server's %v", s2.Healthcheck.Test, server.Healthcheck.Test)
	}
}

// iniSettings returns the key = value lines of an ini file (or of db.sh's heredoc of one).
func iniSettings(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, ";") || strings.HasPrefix(line, "#") {
			continue
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

func TestLookup(t *testing.T) {
	env := map[string]string{config.Addr: "0.0.0.0:9000"}
	getenv := func(k string) string { return env[k] }
	if got := config.Lookup(getenv, config.Addr); got != "0.0.0.0:9000" {
		t.Errorf("Lookup(set) = %s", got)
	}
	if got := config.Lookup(getenv, config.LogLevel); got != "info" {
		t.Errorf("Lookup(unset) = %s, want the default info", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Lookup of an unknown variable did not panic")
		}
	}()
	config.Lookup(getenv, "DOCENT_NOPE")
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		env      map[string]string
		terminal bool
		wantJSON bool
		wantErr  string
	}{
		{nil, false, true, ""},
		{nil, true, false, ""},
		{map[string]string{config.LogFormat: "json"}, true, true, ""},
		{map[string]string{config.LogFormat: "text"}, false, false, ""},
		{map[string]string{config.LogFormat: "yaml"}, false, false, "not one of json, text, auto"},
		{map[string]string{config.LogLevel: "verbose"}, false, false, "not one of debug, info, warn, error"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		logger, err := config.NewLogger(func(k string) string { return tt.env[k] }, &buf, tt.terminal)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewLogger(%v) error = %v, want %q", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		logger.Info("hello")
		if isJSON := strings.HasPrefix(buf.String(), "{"); isJSON != tt.wantJSON {
			t.Errorf("NewLogger(%v, terminal=%v) wrote %q, want JSON=%v", tt.env, tt.terminal, buf.String(), tt.wantJSON)
		}
	}
}

func TestReadExtractBudget(t *testing.T) {
	read := func(env map[string]string) (config.ExtractBudget, error) {
		return config.ReadExtractBudget(func(k string) string { return env[k] })
	}
	b, err := read(nil)
	if want := (config.ExtractBudget{Timeout: 30 * time.Second, PDFTimeout: 30 * time.Second, MemoryLimit: 1 << 30, PDFMemoryLimit: 1 << 30}); err != nil || b != want {
		t.Errorf("defaults: %+v, %v; want %+v", b, err, want)
	}
	// The PDF budget follows the general one unless it is set.
	b, err = read(map[string]string{config.ExtractTimeout: "5s", config.ExtractMemory: "256MiB"})
	if want := (config.ExtractBudget{Timeout: 5 * time.Second, PDFTimeout: 5 * time.Second, MemoryLimit: 256 << 20, PDFMemoryLimit: 256 << 20}); err != nil || b != want {
		t.Errorf("extract set: %+v, %v; want %+v", b, err, want)
	}
	b, err = read(map[string]string{config.ExtractTimeout: "5s", config.PDFTimeout: "1m", config.PDFMemoryLimit: "2GiB"})
	if want := (config.ExtractBudget{Timeout: 5 * time.Second, PDFTimeout: time.Minute, MemoryLimit: 1 << 30, PDFMemoryLimit: 2 << 30}); err != nil || b != want {
		t.Errorf("PDF set: %+v, %v; want %+v", b, err, want)
	}
	for _, env := range []map[string]string{
		{config.ExtractTimeout: "soon"}, {config.ExtractTimeout: "-1s"}, {config.ExtractTimeout: "0s"},
		{config.ExtractMemory: "lots"}, {config.PDFTimeout: "x"}, {config.PDFMemoryLimit: "0"},
	} {
		if _, err := read(env); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"100MiB": 100 << 20, "2GB": 2e9, "512k": 512e3, "1048576": 1 << 20, " 1.5 KiB ": 1536} {
		if got, err := config.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "0", "1 XB", "99999999999TiB"} {
		if got, err := config.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, accepted", in, got)
		}
	}
}

// TestDatabasePortIsUsed: with DOCENT_DB_PORT set and DOCENT_DATABASE_URL unset, the binaries
// used port 54329 (another checkout's database) instead of the port make db runs on.
func TestDatabasePortIsUsed(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	for _, tt := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{}, config.DefaultDatabaseURL},
		{map[string]string{config.DBPort: "54400"}, "postgres://docent:docent@127.0.0.1:54400/docent?sslmode=disable"},
		{map[string]string{config.DBPort: "54400", config.DatabaseURL: "postgres://u@db:5432/x"}, "postgres://u@db:5432/x"},
	} {
		if got := config.DatabaseURLFrom(env(tt.vars)); got != tt.want {
			t.Errorf("DatabaseURLFrom(%v) = %s, want %s", tt.vars, got, tt.want)
		}
	}
	for port, ok := range map[string]bool{"54400": true, "0": false, "70000": false, "5432x": false, "": true} {
		if err := config.CheckDatabasePort(env(map[string]string{config.DBPort: port})); (err == nil) != ok {
			t.Errorf("CheckDatabasePort(%q) = %v", port, err)
		}
	}
}

// Every size setting reads the one grammar: DOCENT_MAX_BODY=1GiB was refused while
// DOCENT_PDF_MEMORY_LIMIT=1GiB worked, and the server's grammar took "+64KiB" that the other
// refused. Each spelling either accepted before is accepted by every size variable now.
func TestSizeVariables(t *testing.T) {
	t.Parallel()
	spellings := map[string]int64{
		// the server's former grammar (DOCENT_MAX_BODY): KiB, MiB, KB, MB, B, bare bytes, spaces, a sign
		"64KiB": 64 << 10, "1MiB": 1 << 20, "1KB": 1000, "1MB": 1e6, "5B": 5, "65536": 65536,
		" 64 KiB ": 64 << 10, "+64KiB": 64 << 10, "0064": 64,
		// the extraction budget's (DOCENT_*_MEMORY_LIMIT): G and T, powers of ten, lower case, no B, decimals
		"1GiB": 1 << 30, "2GB": 2e9, "512k": 512e3, "512kb": 512e3, "1TiB": 1 << 40, "1.5GiB": 3 << 29, "100m": 100e6,
	}
	refused := []string{"0", "-1", "-64KiB", "KiB", "64 KiB of memory", "1 XB", "1e6", "1,024", "0x10", "99999999999TiB", "9223372036854775807KiB"}
	for _, name := range config.SizeVars() {
		get := func(value string) (int64, error) {
			return config.Size(func(k string) string {
				if k == name {
					return value
				}
				return ""
			}, name)
		}
		if n, err := get(""); err != nil || n < 1 {
			t.Errorf("%s: the default gives %d, %v", name, n, err)
		}
		for in, want := range spellings {
			if got, err := get(in); err != nil || got != want {
				t.Errorf("%s=%q: %d, %v; want %d", name, in, got, err, want)
			}
		}
		for _, in := range refused {
			if got, err := get(in); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: %d, %v; want an error naming the variable", name, in, got, err)
			}
		}
	}
}

// A variable whose default is a size (a number with a unit that is not a duration, or another
// size variable's value) is a size variable: listed in SizeVars, so read with Size.
func TestEverySizeVariableIsListed(t *testing.T) {
	t.Parallel()
	isSize := map[string]bool{}
	for _, name := range config.SizeVars() {
		isSize[name] = true
	}
	for _, v := range config.Vars() {
		_, err := config.ParseSize(v.Default)
		_, derr := time.ParseDuration(v.Default) // "10m" is ten minutes, not ten megabytes
		hasUnit := err == nil && derr != nil && strings.ContainsAny(v.Default, "kKmMgGtTbB")
		other, ok := strings.CutPrefix(v.Default, "value of ")
		if (hasUnit || ok && isSize[other]) && !isSize[v.Name] {
			t.Errorf("%s (default %q) holds a size but is not in SizeVars", v.Name, v.Default)
		}
		if isSize[v.Name] && !hasUnit && !(ok && isSize[other]) {
			t.Errorf("%s is in SizeVars but its default %q is not a size", v.Name, v.Default)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Size accepted a variable that is not a size")
		}
	}()
	_, _ = config.Size(func(string) string { return "" }, config.CacheSize)
}
