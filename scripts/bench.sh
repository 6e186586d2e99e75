#!/usr/bin/env bash
# Side-by-side benchmark (make bench): vigo and Ansible (Debian's ansible,
# community.docker) converge the documentation's docker-app stack (2
# images, 2 containers per host) on the same lab hosts, in one run, with
# the floors of every phase measured beside it.
#
#   HOSTS="10 50" FIRST=15 RUNS=1 scripts/bench.sh   # the README's run: web15..web24, then web15..web64
#   HOSTS=4 FIRST=11 RUNS=3 scripts/bench.sh         # web11..web14
#   HOSTS=1 RUNS=1 OUT=/tmp/bench scripts/bench.sh   # the smoke form CI runs (web11)
#
# HOSTS is one size or several (each is run in turn, all in one CSV);
# hosts are webFIRST..web(FIRST+size-1) and must be in the lab (lab/lab
# status). Per size and repetition the tools take turns (the order
# alternates), each doing, with the images present on every host:
#   create  both stacks' containers removed first
#   noop    the same push again
#   warm    (vigo only) the no-op again with --persist, through the
#           connections an untimed --persist no-op just opened
#   retag   app_tag v2.1.0 -> v2.2.0 (the webapp container is replaced)
# Ansible runs its fastest way: pipelining, ControlPersist, forks = hosts,
# no fact gathering; its containers are named ans-redis/ans-webapp on
# ports 6380/8081 so that the two stacks never touch each other.
# Right before every phase of either tool, the floors are measured:
#   login floor   every host at once, SSH handshake plus one round trip
#                 (exec true), by OpenSSH and by a minimal x/crypto/ssh
#                 client (simfleet probe); the faster counts
#   warm floor    (warm) the same round trip on connections made before,
#                 untimed (simfleet probe -warm): what a run that skips
#                 the handshake cannot do for less
#   engine floor  (create, retag) the engine calls vigo makes for that
#                 phase, made directly on every host's Docker socket at
#                 once by a minimal client over one SSH connection per
#                 host (cmd/enginefloor), on containers of its own
#                 (floor-redis, floor-webapp on 6381/8082, removed after)
# Wall time, controller CPU (user+sys of the tool and its reaped children,
# from wait4; a warm row adds the holder's CPU during the run, from
# /proc) and max RSS per phase go to OUT/bench.csv (its login_floor_s
# holds the warm floor on warm rows), machine facts to
# OUT/facts.txt, one table per size to OUT/table.md (medians over RUNS),
# where vigo's hosts spent their time (per-host phases_ms of its
# --output json: connect, lock, observe, gate, plan, apply, health;
# median, p90 and max over the hosts of every phase) to OUT/phases.md
# and the chart to OUT/bench.svg (cmd/benchchart).
# A vigo phase that finds a host locked by another run (the lab is
# shared) is discarded and made again, as is a no-op that finds the stack
# changed by someone else.
# Figures only: nothing here asserts a time. It never brings the lab up
# or down: the hosts must be up.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin GOFLAGS=${GOFLAGS:--mod=mod}
HOSTS=${HOSTS:-4}
FIRST=${FIRST:-11}
RUNS=${RUNS:-3}
OUT=${OUT:-docs/bench}
LAB=/var/lib/vigo-lab

for n in $HOSTS; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench: HOSTS must be sizes (numbers), got \"$HOSTS\"" >&2; exit 2; }
done
[[ $FIRST =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "bench: FIRST and RUNS must be numbers" >&2; exit 2; }
max=0
for n in $HOSTS; do [ "$n" -le "$max" ] || max=$n; done
names=() addrs=()
for i in $(seq "$FIRST" $((FIRST + max - 1))); do
	line=$(grep "\"name\":\"web$i.app.example.com\"" "$LAB/hosts.json" 2>/dev/null) ||
		{ echo "bench: web$i is not in the lab ($LAB/hosts.json); bring the lab up first (see lab/README.md)" >&2; exit 1; }
	names+=("web$i.app.example.com")
	addrs+=("$(sed 's/.*"address":"\([^"]*\)".*/\1/' <<<"$line")")
done
if ! command -v ansible-playbook >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q ansible >/dev/null
fi
ansible-galaxy collection list community.docker 2>/dev/null | grep -q community.docker ||
	{ echo "bench: the community.docker collection is missing (Debian's ansible package ships it)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/vigocli" .
go build -o "$work/simfleet" ./cmd/simfleet
go build -o "$work/enginefloor" ./cmd/enginefloor
go build -o "$work/benchchart" ./cmd/benchchart
mkdir -p "$OUT"

# vigo: the documentation's stockpile; inventory.vgo is written per size.
sp=$work/stockpile
mkdir -p "$sp/envoys"
cp -r examples/docker-stack/modules examples/docker-stack/roles "$sp/"
cp examples/docker-stack/envoys/nodes.vgo "$sp/envoys/"
export VIGO_STOCKPILE=$sp VIGO_SECRETS_BACKEND=env SSH_AUTH_SOCK=
export VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL=postgres://bench:bench@db.internal/webapp

# Ansible: the same stack with community.docker; ansible.cfg and
# hosts.ini are written per size.
an=$work/ansible
mkdir -p "$an/cp"
# timeout: the engine API limit per request, as vigo's --request-timeout
# below (at 50 hosts on 2 cores a container start can take over a minute).
cat >"$an/stack.yml" <<'YML'
- hosts: app
  gather_facts: false
  vars:
    app_tag: v2.1.0
  tasks:
    - name: redis image
      community.docker.docker_image: {name: redis, tag: 7-alpine, source: pull, timeout: 600}
    - name: app image
      community.docker.docker_image: {name: myregistry.example.com/webapp, tag: "{{ app_tag }}", source: pull, timeout: 600}
    - name: redis container
      community.docker.docker_container:
        name: ans-redis
        image: redis:7-alpine
        state: started
        published_ports: ["6380:6379"]
        command: redis-server --maxmemory 512mb
        restart_policy: unless-stopped
        timeout: 600
    - name: app container
      community.docker.docker_container:
        name: ans-webapp
        image: "myregistry.example.com/webapp:{{ app_tag }}"
        state: started
        published_ports: ["8081:8080"]
        env:
          REDIS_URL: "redis://localhost:6379"
          DATABASE_URL: "postgres://bench:bench@db.internal/webapp"
        restart_policy: unless-stopped
        timeout: 600
YML
export ANSIBLE_CONFIG=$an/ansible.cfg

# select N: the first N hosts become the size's inventories.
sel_addrs=()
select_hosts() {
	local n=$1 k
	sel_addrs=("${addrs[@]:0:n}")
	{
		echo "defaults: {user: root, identity_file: $LAB/id_ed25519, known_hosts: $LAB/known_hosts}"
		echo "hosts:"
		for ((k = 0; k < n; k++)); do echo "  - {name: ${names[k]}, address: ${addrs[k]}}"; done
	} >"$sp/inventory.vgo"
	cat >"$an/ansible.cfg" <<-CFG
		[defaults]
		inventory = $an/hosts.ini
		forks = $n
		gathering = explicit
		host_key_checking = True
		interpreter_python = /usr/bin/python3
		retry_files_enabled = False
		[ssh_connection]
		pipelining = True
		control_path_dir = $an/cp
		ssh_args = -F none -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=$LAB/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes
	CFG
	{
		echo "[app]"
		for ((k = 0; k < n; k++)); do
			echo "${names[k]} ansible_host=${addrs[k]} ansible_user=root ansible_ssh_private_key_file=$LAB/id_ed25519"
		done
	} >"$an/hosts.ini"
}

sshopts=(-F none -i "$LAB/id_ed25519" -o UserKnownHostsFile="$LAB/known_hosts" -o StrictHostKeyChecking=yes
	-o BatchMode=yes -o IdentitiesOnly=yes -o ControlMaster=no -o ControlPath=none)
now() { date +%s.%N; }
fl() { awk "BEGIN { printf \"%.3f\", $* }"; }
# on_all CMD...: run a command on every selected host at once (not measured).
on_all() {
	local a p rc=0 pids=()
	for a in "${sel_addrs[@]}"; do
		ssh "${sshopts[@]}" "root@$a" "$@" >/dev/null 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return $rc
}
# teardown removes every stack's containers (not measured).
teardown() { on_all docker rm -f redis webapp ans-redis ans-webapp floor-redis floor-webapp floor-webapp-vigo-new || true; }
# images puts the stacks' images on every host (not measured): every
# phase runs with its images present.
images() {
	on_all 'docker pull -q redis:7-alpine && docker pull -q myregistry.example.com/webapp:v2.1.0 && docker pull -q myregistry.example.com/webapp:v2.2.0' ||
		{ echo "bench: pulling the images failed on a host" >&2; exit 1; }
}
hostports() { local a; for a in "${sel_addrs[@]}"; do echo "$a:22"; done; }
# login_floor prints the faster of N parallel OpenSSH logins and the x/crypto probe.
# A login that fails (a loaded host may drop one) makes the measurement
# again, up to three times.
login_floor() {
	local t0 t1 p try
	for try in 1 2 3; do
		t0=$(now)
		on_all true && break
		[ "$try" != 3 ] || { echo "bench: an OpenSSH login failed three times" >&2; exit 1; }
		echo "  an OpenSSH login failed; the login floor is measured again" >&2
	done
	t1=$(now)
	# shellcheck disable=SC2046
	p=$("$work/simfleet" probe -i "$LAB/id_ed25519" -known-hosts "$LAB/known_hosts" $(hostports))
	awk -v o="$(fl "$t1 - $t0")" -v p="$p" 'BEGIN { printf "%.3f", (o < p ? o : p) }'
}
# cpu_of PID: the user and system CPU seconds of a process so far.
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.3f %.3f\n", $14 / t, $15 / t }' "/proc/$1/stat" 2>/dev/null || echo "0 0"; }
# changed LOG: the run changed something (Ansible's recap, vigo's JSON
# report).
changed() { grep -qE 'changed=[1-9]|"changed": [1-9]' "$1"; }
# phases SIZE TOOL-PHASE LOG: the per-host phases of one vigo run (its
# JSON report) as a markdown row per phase: median, p90, max in ms.
phases() {
	awk -v size="$1" -v run="$2" '
	/"phases_ms": \{/ { in_ph = 1; next }
	in_ph && /}/ { in_ph = 0; next }
	in_ph { gsub(/[",]/, ""); k = $1; sub(/:$/, "", k); n[k]++; v[k, n[k]] = $2 + 0 }
	function q(k, f,   i, j, t, a, m) {
		m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		i = int(f * m + 0.999999); if (i < 1) i = 1; if (i > m) i = m
		return a[i]
	}
	END {
		split("connect lock observe gate plan apply health", order, " ")
		for (o = 1; o <= 7; o++) {
			k = order[o]; if (!n[k]) continue
			printf "| %d | %s | %s | %d | %.0f | %.0f | %.0f |\n", size, run, k, n[k], q(k, 0.5), q(k, 0.9), q(k, 1)
		}
	}' "$3"
}
# warm_floor prints the time of one exec true on every host at once over
# connections opened beforehand (the floor of a warm no-op).
warm_floor() {
	# shellcheck disable=SC2046
	"$work/simfleet" probe -warm -i "$LAB/id_ed25519" -known-hosts "$LAB/known_hosts" $(hostports)
}
# engine_floor PHASE prints the engine floor of create or retag.
engine_floor() {
	local ef=("$work/enginefloor" -i "$LAB/id_ed25519" -known-hosts "$LAB/known_hosts")
	# shellcheck disable=SC2046
	{
		"${ef[@]}" clean $(hostports) >/dev/null
		[ "$1" != retag ] || "${ef[@]}" create $(hostports) >/dev/null
		"${ef[@]}" "$1" $(hostports)
		"${ef[@]}" clean $(hostports) >/dev/null
	} 2>"$work/enginefloor.err" || { echo "bench: engine floor $1 failed:" >&2; cat "$work/enginefloor.err" >&2; exit 1; }
}

# Progress: a rough model of each step's seconds at N hosts (from runs on
# this 2-core machine), rescaled by what the run has measured so far.
model() { # model TOOL PHASE N: seconds of one phase with its floors
	awk -v t="$1" -v p="$2" -v n="$3" 'BEGIN {
		login = 1 + 0.5 * n; eng = (p == "noop" || p == "warm") ? 0 : (p == "create" ? 2 + 1.6 * n : 4 + 3.2 * n)
		if (t == "ansible") w = 20 + 2.5 * n + 0.2 * n * n; else w = (p == "noop" || p == "warm") ? 1 + 0.5 * n : 2 + 1.4 * n
		printf "%.0f", login + eng + w }'
}
est_total=0 est_done=0 started=$(date +%s) step_no=0 steps=0
for n in $HOSTS; do
	for t in vigo ansible; do for p in create noop retag $([ $t = ansible ] || echo warm); do
		est_total=$((est_total + RUNS * $(model $t $p "$n")))
		steps=$((steps + RUNS))
	done; done
done
mmss() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
echo "bench: sizes $HOSTS, $RUNS repetition(s), hosts from web$FIRST; about $(mmss "$est_total") in all (a model; corrected as it goes)" >&2

# run TOOL PHASE REP N: measure one phase and its floors, append a CSV row.
run() {
	local tool=$1 phase=$2 rep=$3 n=$4 lf ef="" m cmd code wall user sys rss try holder h0 hu0 hs0 hu1 hs1 hnote
	if [ "$tool" = vigo ]; then
		# --request-timeout: a container start can take over a minute
		# at 50 hosts on 2 cores; a limit is not a speed setting.
		cmd=("$work/vigocli" envoys push --all --request-timeout 10m -o json)
		[ "$phase" != retag ] || cmd+=(--var app_tag=v2.2.0)
		# warm: the no-op again through held connections (--persist);
		# an untimed no-op before it starts the holder and dials.
		[ "$phase" != warm ] || cmd+=(--persist 10m)
	else
		cmd=(ansible-playbook "$an/stack.yml")
		[ "$phase" != retag ] || cmd+=(-e app_tag=v2.2.0)
	fi
	for try in 1 2 3 4 5; do
		if [ "$phase" = warm ]; then lf=$(warm_floor); else lf=$(login_floor); fi
		[ "$phase" = noop ] || [ "$phase" = warm ] || ef=$(engine_floor "$phase")
		[ "$phase" != warm ] || "${cmd[@]}" >"$work/warm-prime.log" 2>&1 || true
		# warm: the holder does the run's SSH work, and is not vigocli's
		# child: its CPU during the run is added to vigo's.
		holder= h0="0 0" hnote=
		if [ "$phase" = warm ]; then
			holder=$(pgrep -f -x "$work/vigocli connections hold" | head -1) || true
			if [ -n "$holder" ]; then h0=$(cpu_of "$holder"); else echo "  no holder found: this warm row's CPU is vigocli's alone" >&2; fi
		fi
		m=$("$work/simfleet" measure -out "$work/$tool-$phase-$rep.log" -- "${cmd[@]}")
		read -r code wall user sys rss _ < <(echo "$m" | sed 's/[{}"]//g; s/[a-z_]*://g; s/,/ /g')
		if [ -n "$holder" ]; then
			read -r hu0 hs0 <<<"$h0"
			read -r hu1 hs1 <<<"$(cpu_of "$holder")"
			if awk "BEGIN { exit !($hu1 < $hu0 || $hs1 < $hs0) }"; then
				echo "  the holder ended during the run: this warm row's CPU is vigocli's alone" >&2
				hu1=$hu0 hs1=$hs0
			fi
			user=$(fl "$user + $hu1 - $hu0") sys=$(fl "$sys + $hs1 - $hs0")
			hnote=" (holder $(awk "BEGIN { printf \"%.2f\", $hu1 - $hu0 + $hs1 - $hs0 }")s)"
		fi
		# Another run holding a host's lock (the lab is shared): the
		# attempt is discarded, not measured, and made again.
		# A no-op that changed something found the stack changed by
		# someone else: that attempt converged it again, so retry too.
		if [ "$code" != 0 ] && [ "$tool" = vigo ] && grep -q 'locked by' "$work/$tool-$phase-$rep.log"; then
			echo "  $n hosts rep $rep $tool $phase: a host was locked by another run; again in 10s" >&2
		elif [ "$code" = 0 ] && { [ "$phase" = noop ] || [ "$phase" = warm ]; } && changed "$work/$tool-$phase-$rep.log"; then
			echo "  $n hosts rep $rep $tool $phase: the stack had been changed by another run; again in 10s" >&2
		else
			break
		fi
		sleep 10
	done
	if [ "$code" != 0 ]; then
		echo "bench: $tool $phase at $n hosts failed (exit $code):" >&2; tail -15 "$work/$tool-$phase-$rep.log" >&2; exit 1
	fi
	[ "$phase" != warm ] || "$work/vigocli" connections close --all >/dev/null 2>&1 || true
	if { [ "$phase" = noop ] || [ "$phase" = warm ]; } && changed "$work/$tool-$phase-$rep.log"; then
		echo "bench: $tool's no-op changed something" >&2; exit 1
	fi
	echo "$rep,$tool,$phase,$n,$wall,$user,$sys,$rss,$lf,$ef" >>"$OUT/bench.csv"
	[ "$tool" != vigo ] || phases "$n" "$phase (rep $rep)" "$work/$tool-$phase-$rep.log" >>"$OUT/phases.md"
	step_no=$((step_no + 1))
	est_done=$((est_done + $(model "$tool" "$phase" "$n")))
	local el=$(($(date +%s) - started)) left
	left=$(awk -v e="$el" -v d="$est_done" -v t="$est_total" 'BEGIN { printf "%d", e / d * (t - d) }')
	printf '[%d/%d] %3d hosts rep %d %-7s %-6s wall %7.2fs cpu %6.2fs%s rss %4d MB | %s floor %6.2fs%s | %s elapsed, about %s left\n' \
		"$step_no" "$steps" "$n" "$rep" "$tool" "$phase" "$wall" "$(fl "$user + $sys")" "$hnote" $((rss / 1024)) "$([ "$phase" = warm ] && echo warm || echo login)" "$lf" \
		"$([ -z "$ef" ] || printf ' engine floor %6.2fs' "$ef")" "$(mmss "$el")" "$(mmss "$left")" >&2
}

# table N: the size's medians, as markdown.
table() {
	awk -F, -v size="$1" 'NR > 1 && $4 == size {
		k = $3 SUBSEP $2; n[k]++; w[k, n[k]] = $5; c[k, n[k]] = $6 + $7; if ($8 > r[k]) r[k] = $8
		nl[$3]++; l[$3, nl[$3]] = $9
		if ($10 != "") { ne[$3]++; e[$3, ne[$3]] = $10 }
	}
	function med(a, k, m,   i, j, t, v) {
		if (m == 0) return 0
		for (i = 1; i <= m; i++) v[i] = a[k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
	}
	END {
		printf "\n%d hosts, medians of %d run(s); wall s / controller CPU s / max RSS MB\n\n", size, n["noop" SUBSEP "vigo"]
		printf "| phase | vigo | Ansible | Ansible / vigo | login floor | engine floor | vigo / floor |\n"
		printf "|---|---|---|---|---|---|---|\n"
		split("create noop retag", ph, " ")
		for (i = 1; i <= 3; i++) {
			p = ph[i]; v = p SUBSEP "vigo"; a = p SUBSEP "ansible"
			vw = med(w, v, n[v]); aw = med(w, a, n[a]); lf = med(l, p, nl[p]); ef = med(e, p, ne[p])
			fl = ef > 0 ? ef : lf
			printf "| %s | %.2f / %.2f / %d | %.2f / %.2f / %d | %.1fx | %.2f s | %s | %.2fx (%s) |\n",
				p, vw, med(c, v, n[v]), r[v] / 1024, aw, med(c, a, n[a]), r[a] / 1024, aw / vw, lf,
				(ef > 0 ? sprintf("%.2f s", ef) : "-"), vw / fl, (ef > 0 ? "engine" : "login")
		}
		w2 = "warm" SUBSEP "vigo"
		if (n[w2] > 0) {
			ww = med(w, w2, n[w2]); aw = med(w, "noop" SUBSEP "ansible", n["noop" SUBSEP "ansible"]); lf = med(l, "warm", nl["warm"])
			cw = med(w, "noop" SUBSEP "vigo", n["noop" SUBSEP "vigo"]); cf = med(l, "noop", nl["noop"])
			printf "| warm no-op (--persist) | %.2f / %.2f / %d | (no-op) %.2f | %.1fx | %.2f s (warm) | - | %.2fx (warm) |\n",
				ww, med(c, w2, n[w2]), r[w2] / 1024, aw, aw / ww, lf, ww / lf
			printf "\nwarm no-op: %.1fx faster than the cold no-op (%.2f s -> %.2f s); the floors: %.1fx (login %.2f s -> warm %.2f s)\n", cw / ww, cw, ww, cf / lf, cf, lf
		}
	}' "$OUT/bench.csv"
}

echo "rep,tool,phase,hosts,wall_s,user_s,sys_s,max_rss_kb,login_floor_s,engine_floor_s" >"$OUT/bench.csv"
: >"$OUT/table.md"
{
	echo "Where vigo's hosts spent their time: per-host phases_ms of its --output json, in ms, over the hosts of each run"
	echo
	echo "| hosts | push | phase | hosts measured | median | p90 | max |"
	echo "|---|---|---|---|---|---|---|"
} >"$OUT/phases.md"
{
	echo "date: $(date -u +%FT%TZ)"
	echo "command: HOSTS=\"$HOSTS\" FIRST=$FIRST RUNS=$RUNS scripts/bench.sh"
	echo "hosts: web$FIRST..web$((FIRST + max - 1)) (the first N of them at size N)"
	echo "cpu: $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "kernel: $(uname -r)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "vigo: $(git describe --always --dirty 2>/dev/null || echo dev), $(go version | cut -d' ' -f3)"
	echo "ansible: $(ansible --version | awk 'NR == 1'), community.docker $(ansible-galaxy collection list community.docker 2>/dev/null | awk '/community.docker/ {print $2}')"
	echo "openssh: $(ssh -V 2>&1)"
	echo "docker on the hosts: $(ssh "${sshopts[@]}" "root@${addrs[0]}" docker version --format '{{.Server.Version}}' 2>/dev/null)"
	echo "lab size: $(cat "$LAB/size" 2>/dev/null) (web hosts, compose hosts, bastion)"
} >"$OUT/facts.txt"

for n in $HOSTS; do
	select_hosts "$n"
	images
	for rep in $(seq 1 "$RUNS"); do
		tools=(vigo ansible)
		[ $((rep % 2)) = 1 ] || tools=(ansible vigo)
		teardown
		for tool in "${tools[@]}"; do
			phases=(create noop retag)
			[ "$tool" = ansible ] || phases=(create noop warm retag)
			for phase in "${phases[@]}"; do run "$tool" "$phase" "$rep" "$n"; done
		done
	done
	teardown
	echo "load after $n hosts: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/facts.txt"
	table "$n" | tee -a "$OUT/table.md"
	"$work/benchchart" -in "$OUT/bench.csv" -out "$OUT/bench.svg"
done
echo
echo "CSV: $OUT/bench.csv; machine: $OUT/facts.txt; table: $OUT/table.md; vigo's phases per host: $OUT/phases.md; chart: $OUT/bench.svg"
