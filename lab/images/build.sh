#!/usr/bin/env bash
# Builds the lab's images without internet and pushes them to the lab registry.
# Run by `lab/lab up` inside the lab's builder host (its own dockerd), so plain
# `docker` talks to the builder engine. Usage: build.sh WORKDIR BINDIR
#   BINDIR holds webapp-2.1.0 and webapp-2.2.0 (static Go builds of lab/images/webapp).
# Every image is a `docker import` of a rootfs tarball made from this machine's
# files: busybox-static for /bin/sh and the usual tools, Debian's redis-server
# with the libraries ldd lists, and the Go stand-in app.
set -euo pipefail
work=$1 bindir=$2
here=$(cd "$(dirname "$0")" && pwd)
reg=10.77.0.2   # the registry as a Docker Hub mirror (library/NAME)
rm -rf "$work" && mkdir -p "$work"

PATHENV='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

base() { # base DIR: busybox rootfs with /bin/sh and every applet
	local d=$1
	mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,tmp,root,var/run,proc,sys,dev}
	chmod 1777 "$d/tmp"
	cp /bin/busybox "$d/bin/busybox"
	local a
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$d/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$d/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$d/etc/group"
}

withlibs() { # withlibs DIR BINARY...: copy binaries' shared libraries (ldd) into DIR
	local d=$1 b l
	shift
	for b in "$@"; do
		for l in $(ldd "$b" | grep -o '/[^ ]*'); do
			mkdir -p "$d$(dirname "$l")"
			cp -L "$l" "$d$l"
		done
	done
}

import() { # import DIR REF CHANGE...
	local d=$1 ref=$2 c
	shift 2
	local args=()
	for c in "$@"; do args+=(--change "$c"); done
	tar -C "$d" --numeric-owner -cf - . | docker import "${args[@]}" - "$ref" >/dev/null
	docker push -q "$ref" >/dev/null
	echo "  pushed $ref"
}

# redis:7-alpine: Debian's redis-server (the binary picks its role from argv[0],
# so it is copied under the name redis-server). /usr/local/bin/redis-server is a
# wrapper that appends "--protected-mode no" so PING works from other addresses
# even when a container overrides the command (the documentation's
# `command: "redis-server --maxmemory 512mb"` still goes through the wrapper).
d=$work/redis
base "$d"
cp -L /usr/bin/redis-server "$d/usr/bin/redis-server"
withlibs "$d" /usr/bin/redis-server
if [ -x /usr/bin/redis-cli ]; then
	cp -L /usr/bin/redis-cli "$d/usr/bin/redis-cli"
	withlibs "$d" /usr/bin/redis-cli
fi
install -m 0755 "$here/redis-server.sh" "$d/usr/local/bin/redis-server"
mkdir -p "$d/data"
import "$d" "$reg/library/redis:7-alpine" "$PATHENV" 'WORKDIR /data' 'EXPOSE 6379' 'CMD ["redis-server"]'

# nginx:latest: busybox httpd serving a static page on port 80.
d=$work/nginx
base "$d"
mkdir -p "$d/usr/share/nginx/html"
cp "$here/nginx/index.html" "$d/usr/share/nginx/html/index.html"
echo ok >"$d/usr/share/nginx/html/health"
import "$d" "$reg/library/nginx:latest" "$PATHENV" 'EXPOSE 80' \
	'CMD ["httpd","-f","-v","-p","80","-h","/usr/share/nginx/html"]'

# myregistry.example.com/webapp:v2.1.0 and :v2.2.0, and api:v2.1.0: the Go app.
for v in 2.1.0 2.2.0; do
	d=$work/webapp-$v
	base "$d"
	install -m 0755 "$bindir/webapp-$v" "$d/usr/local/bin/webapp"
	import "$d" "myregistry.example.com/webapp:v$v" "$PATHENV" 'ENV APP_NAME=webapp' \
		"ENV APP_VERSION=$v" 'EXPOSE 8080' 'CMD ["webapp"]'
done
d=$work/api
base "$d"
install -m 0755 "$bindir/webapp-2.1.0" "$d/usr/local/bin/api"
import "$d" "myregistry.example.com/api:v2.1.0" "$PATHENV" 'ENV APP_NAME=api' \
	'ENV APP_VERSION=2.1.0' 'EXPOSE 8080' 'CMD ["api"]'
rm -rf "$work"
