#!/usr/bin/env bash
# Runs the README's "By hand, after make demo" section verbatim: the lines
# of the sh block between <!-- byhand:begin --> and <!-- byhand:end -->, one
# by one in one shell, from a fresh copy of the committed tree (git archive
# HEAD) with a fresh HOME, as a new user would. Every command must exit 0;
# then the outputs are checked against what the README says: the second
# identical push changes nothing, the tag change and the rollback roll host
# by host. The lab must be up with the example's hosts (make demo).
#
# Usage: scripts/byhand.sh   (needs root, the lab, and ./vigocli or Go)
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export PATH=$PATH:/usr/local/go/bin

die() { echo "byhand: $*" >&2; exit 1; }
[ -e /var/lib/vigo-lab/up ] || die "the lab is not up (make demo, or lab/lab up)"

lines=$(awk '/<!-- byhand:begin -->/{on=1; next} /<!-- byhand:end -->/{on=0} on' README.md |
	sed -n '/^```sh$/,/^```$/p' | sed '1d;$d')
[ -n "$lines" ] || die "no by-hand section in README.md (markers byhand:begin/end around a sh block)"

work=$(mktemp -d /tmp/vigo-byhand.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/clone" "$work/home"
git archive HEAD | tar -x -C "$work/clone" || die "git archive HEAD failed"
if [ -x "$repo/vigocli" ] && [ "${BYHAND_REBUILD:-1}" = 0 ]; then
	cp "$repo/vigocli" "$work/clone/vigocli"
else
	(cd "$work/clone" && GOFLAGS=-mod=mod go build -o vigocli .) || die "go build failed"
fi

# A new user's environment: none of vigo's variables, a HOME of its own.
for v in $(env | sed -n 's/^\(VIGO_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
export HOME=$work/home USER=byhand
unset XDG_CONFIG_HOME

cd "$work/clone"
n=0
declare -a cmds
while IFS= read -r line; do
	case $line in '' | '#'*) continue ;; esac
	n=$((n + 1))
	cmds[n]=$(sed 's/[[:space:]]\+#.*$//' <<<"$line") # without its comment
	echo "\$ $line"
	eval "$line" >"$work/out.$n" 2>&1
	rc=$?
	sed 's/^/    /' "$work/out.$n"
	[ "$rc" = 0 ] || die "exit $rc (the README says every command exits 0): $line"
done <<<"$lines"

# out CMD [NTH]: the output of the NTH (default 1) line that is CMD
# (without its comment).
out() {
	local want=$1 nth=${2:-1} i seen=0
	for ((i = 1; i <= n; i++)); do
		if [ "${cmds[i]}" = "$want" ]; then
			seen=$((seen + 1))
			[ "$seen" = "$nth" ] && { cat "$work/out.$i"; return; }
		fi
	done
	die "no command '$want' (occurrence $nth) in the README's by-hand section"
}
expect() { # expect WHAT PATTERN TEXT
	grep -qE -- "$2" <<<"$3" || die "$1: no line matching '$2'"
}

expect validate '^valid' "$(out 'vigocli validate')"
expect "envoys list" '^push: 4 hosts in 4 batches' "$(out 'vigocli envoys list')"
expect render 'image: myregistry.example.com/webapp:v2.1.0' "$(out 'vigocli render web1.app.example.com')"
expect "dry run" '^RECAP \(dry run: nothing changed\)' "$(out 'vigocli envoys push --all --dry-run')"
second=$(out 'vigocli envoys push --all' 2)
expect "second push" '^4 hosts: 4 ok; nothing changed; wall time' "$second"
tag=$(out 'vigocli envoys push --all --var app_tag=v2.2.0')
expect "tag change" '^batch 3/4: web3.app.example.com$' "$tag"
expect "tag change" 'image: myregistry.example.com/webapp v2.1.0 -> v2.2.0' "$tag"
expect "tag change" 'health check passed' "$tag"
back=$(out 'vigocli envoys push --all --var app_tag=v2.1.0')
expect rollback 'image: myregistry.example.com/webapp v2.2.0 -> v2.1.0' "$back"
expect rollback '^4 hosts: .*changed; wall time' "$back"
echo "byhand: ok: $n commands of the README ran verbatim and exited 0; the second push changed nothing"
