#!/usr/bin/env bash
# Side-by-side benchmark (make bench): vigo and Ansible (Debian's ansible,
# community.docker) converge the documentation's docker-app stack (2
# images, 2 containers per host) on the same lab hosts, in one run.
#
#   HOSTS=4 FIRST=11 RUNS=3 scripts/bench.sh        # web11..web14
#   HOSTS=2 RUNS=1 OUT=/tmp/bench scripts/bench.sh  # the smoke form CI runs
#
# Per repetition the tools take turns (the order alternates), each doing:
#   create  both stacks' containers removed first (images present)
#   noop    the same push again
#   retag   app_tag v2.1.0 -> v2.2.0 (the webapp container is replaced)
# Ansible runs its fastest way: pipelining, ControlPersist, forks = hosts,
# no fact gathering; its containers are named ans-redis/ans-webapp on
# ports 6380/8081 so that the two stacks never touch each other.
# Beside every phase the login floor is measured: every host at once, SSH
# handshake plus one round trip (exec true), by OpenSSH and by a minimal
# x/crypto/ssh client (simfleet probe); the faster counts.
# Wall time, controller CPU (user+sys of the tool and its reaped children,
# from wait4) and max RSS per phase go to OUT/bench.csv, machine facts to
# OUT/facts.txt; one table is printed (medians over RUNS).
# Figures only: nothing here asserts a time. It never brings the lab up
# or down: the hosts must be up (lab/lab status).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin GOFLAGS=${GOFLAGS:--mod=mod}
HOSTS=${HOSTS:-4}
FIRST=${FIRST:-11}
RUNS=${RUNS:-3}
OUT=${OUT:-docs/bench}
LAB=/var/lib/vigo-lab

names=() addrs=()
for i in $(seq "$FIRST" $((FIRST + HOSTS - 1))); do
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
mkdir -p "$OUT"

# vigo: the documentation's stockpile, on the selected hosts only.
sp=$work/stockpile
mkdir -p "$sp/envoys"
cp -r examples/docker-stack/modules examples/docker-stack/roles "$sp/"
cp examples/docker-stack/envoys/nodes.vgo "$sp/envoys/"
{
	echo "defaults: {user: root, identity_file: $LAB/id_ed25519, known_hosts: $LAB/known_hosts}"
	echo "hosts:"
	for k in "${!names[@]}"; do echo "  - {name: ${names[$k]}, address: ${addrs[$k]}}"; done
} >"$sp/inventory.vgo"
export VIGO_STOCKPILE=$sp VIGO_SECRETS_BACKEND=env SSH_AUTH_SOCK=
export VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL=postgres://bench:bench@db.internal/webapp

# Ansible: the same stack with community.docker.
an=$work/ansible
mkdir -p "$an/cp"
cat >"$an/ansible.cfg" <<CFG
[defaults]
inventory = $an/hosts.ini
forks = $HOSTS
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
	for k in "${!names[@]}"; do
		echo "${names[$k]} ansible_host=${addrs[$k]} ansible_user=root ansible_ssh_private_key_file=$LAB/id_ed25519"
	done
} >"$an/hosts.ini"
cat >"$an/stack.yml" <<'YML'
- hosts: app
  gather_facts: false
  vars:
    app_tag: v2.1.0
  tasks:
    - name: redis image
      community.docker.docker_image: {name: redis, tag: 7-alpine, source: pull}
    - name: app image
      community.docker.docker_image: {name: myregistry.example.com/webapp, tag: "{{ app_tag }}", source: pull}
    - name: redis container
      community.docker.docker_container:
        name: ans-redis
        image: redis:7-alpine
        state: started
        published_ports: ["6380:6379"]
        command: redis-server --maxmemory 512mb
        restart_policy: unless-stopped
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
YML
export ANSIBLE_CONFIG=$an/ansible.cfg

sshopts=(-F none -i "$LAB/id_ed25519" -o UserKnownHostsFile="$LAB/known_hosts" -o StrictHostKeyChecking=yes
	-o BatchMode=yes -o IdentitiesOnly=yes -o ControlMaster=no -o ControlPath=none)
now() { date +%s.%N; }
# teardown removes both stacks' containers (not measured).
teardown() {
	for a in "${addrs[@]}"; do
		ssh "${sshopts[@]}" "root@$a" docker rm -f redis webapp ans-redis ans-webapp >/dev/null 2>&1 &
	done
	wait
}
# floor prints the faster of N parallel OpenSSH logins and the x/crypto probe.
floor() {
	local t0 t1 p hp=()
	t0=$(now)
	for a in "${addrs[@]}"; do ssh "${sshopts[@]}" "root@$a" true & done
	wait
	t1=$(now)
	for a in "${addrs[@]}"; do hp+=("$a:22"); done
	p=$("$work/simfleet" probe -i "$LAB/id_ed25519" -known-hosts "$LAB/known_hosts" "${hp[@]}")
	awk -v o="$(awk "BEGIN { print $t1 - $t0 }")" -v p="$p" 'BEGIN { printf "%.3f", (o < p ? o : p) }'
}
# run TOOL PHASE REP: measure one phase, append a CSV row.
run() {
	local tool=$1 phase=$2 rep=$3 fl m cmd
	if [ "$tool" = vigo ]; then
		cmd=("$work/vigocli" envoys push --all)
		[ "$phase" != retag ] || cmd+=(--var app_tag=v2.2.0)
	else
		cmd=(ansible-playbook "$an/stack.yml")
		[ "$phase" != retag ] || cmd+=(-e app_tag=v2.2.0)
	fi
	local try
	for try in 1 2 3 4 5; do
		fl=$(floor)
		m=$("$work/simfleet" measure -out "$work/$tool-$phase-$rep.log" -- "${cmd[@]}")
		read -r code wall user sys rss _ < <(echo "$m" | sed 's/[{}"]//g; s/[a-z_]*://g; s/,/ /g')
		# Another run holding a host's lock (the lab is shared): the
		# attempt is discarded, not measured, and made again.
		# A no-op that changed something found the stack changed by
		# someone else: that attempt converged it again, so retry too.
		if [ "$code" != 0 ] && [ "$tool" = vigo ] && grep -q 'locked by' "$work/$tool-$phase-$rep.log"; then
			echo "  rep $rep $tool $phase: a host was locked by another run; again in 10s" >&2
		elif [ "$code" = 0 ] && [ "$phase" = noop ] && grep -qE 'changed=[1-9]' "$work/$tool-$phase-$rep.log"; then
			echo "  rep $rep $tool $phase: the stack had been changed by another run; again in 10s" >&2
		else
			break
		fi
		sleep 10
	done
	if [ "$code" != 0 ]; then
		echo "bench: $tool $phase failed (exit $code):" >&2; tail -15 "$work/$tool-$phase-$rep.log" >&2; exit 1
	fi
	if [ "$phase" = noop ]; then
		if [ "$tool" = vigo ] && grep -qE 'changed=[1-9]' "$work/$tool-$phase-$rep.log"; then echo "bench: vigo's no-op changed something" >&2; exit 1; fi
		if [ "$tool" = ansible ] && grep -qE 'changed=[1-9]' "$work/$tool-$phase-$rep.log"; then echo "bench: ansible's no-op changed something" >&2; exit 1; fi
	fi
	echo "$rep,$tool,$phase,$HOSTS,$wall,$user,$sys,$rss,$fl" >>"$OUT/bench.csv"
	printf '  rep %d %-8s %-7s wall %6.2fs  cpu %6.2fs  rss %4d MB  floor %.2fs\n' "$rep" "$tool" "$phase" "$wall" \
		"$(awk "BEGIN { print $user + $sys }")" $((rss / 1024)) "$fl" >&2
}

echo "rep,tool,phase,hosts,wall_s,user_s,sys_s,max_rss_kb,floor_s" >"$OUT/bench.csv"
{
	echo "date: $(date -u +%FT%TZ)"
	echo "command: HOSTS=$HOSTS FIRST=$FIRST RUNS=$RUNS scripts/bench.sh"
	echo "hosts: ${names[*]}"
	echo "cpu: $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "kernel: $(uname -r)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "vigo: $(git describe --always --dirty 2>/dev/null || echo dev), $(go version | cut -d' ' -f3)"
	echo "ansible: $(ansible --version | awk 'NR == 1'), community.docker $(ansible-galaxy collection list community.docker 2>/dev/null | awk '/community.docker/ {print $2}')"
	echo "openssh: $(ssh -V 2>&1)"
	echo "docker on the hosts: $(ssh "${sshopts[@]}" "root@${addrs[0]}" docker version --format '{{.Server.Version}}' 2>/dev/null)"
} >"$OUT/facts.txt"

for rep in $(seq 1 "$RUNS"); do
	tools=(vigo ansible)
	[ $((rep % 2)) = 1 ] || tools=(ansible vigo)
	teardown
	for tool in "${tools[@]}"; do
		for phase in create noop retag; do run "$tool" "$phase" "$rep"; done
	done
done
teardown
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/facts.txt"

# One table: medians over the repetitions.
awk -F, 'NR > 1 {
	k = $3 SUBSEP $2; n[k]++; w[k, n[k]] = $5; c[k, n[k]] = $6 + $7; if ($8 > r[k]) r[k] = $8
	nf[$3]++; f[$3, nf[$3]] = $9; hosts = $4
}
function med(a, k, m,   i, j, t, v) {
	for (i = 1; i <= m; i++) v[i] = a[k, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
}
END {
	printf "\n%d hosts, medians of %d runs (wall s / controller CPU s / max RSS MB)\n", hosts, n["noop" SUBSEP "vigo"]
	printf "| %-6s | %-22s | %-22s | %-13s | %-12s | %-14s |\n", "phase", "vigo", "Ansible", "Ansible/vigo", "login floor", "vigo / floor"
	printf "|--------|------------------------|------------------------|---------------|--------------|----------------|\n"
	split("create noop retag", ph, " ")
	for (i = 1; i <= 3; i++) {
		p = ph[i]; v = p SUBSEP "vigo"; a = p SUBSEP "ansible"
		vw = med(w, v, n[v]); aw = med(w, a, n[a]); vc = med(c, v, n[v]); ac = med(c, a, n[a]); fl = med(f, p, nf[p])
		printf "| %-6s | %6.2f / %5.2f / %4d | %6.2f / %5.2f / %4d | %6.1fx wall  | %10.2fs  | %12.2fx |\n",
			p, vw, vc, r[v] / 1024, aw, ac, r[a] / 1024, aw / vw, fl, vw / fl
	}
}' "$OUT/bench.csv" | tee "$OUT/table.md"
echo
echo "CSV: $OUT/bench.csv; machine: $OUT/facts.txt; table: $OUT/table.md"
