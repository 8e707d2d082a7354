# Tunesheap: build, run and test the nginx module against Debian's nginx.
#
#   make run      install what is missing, build, start Postgres, Redis and
#                 nginx with the sample catalog on http://127.0.0.1:8080/
#   make test     build and run every suite against throwaway servers
#   make valgrind the suites with nginx under memcheck (var/valgrind/)
#   make stop     stop what `make run` started (its data stays in var/)
#   make import CATALOG=file.json
#   make apikey NAME=client [SCOPES=read,write], make apikey-revoke NAME=...
#   make bench
#   make fleet [N=3], make fleet-stop, make fleet-bench
#   make capacity what one core serves, and the sizing of a 50,000-listener peak
#   make deb      the Debian package (build/deb/*.deb), checked by lintian
#   make ansible-check  ansible-lint and --syntax-check of ansible/
#   make converge ansible/site.yml onto a fresh Debian 12 chroot (root)
#   make soak [DURATION=60]  mixed load with faults injected, then checks
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="json audio"]

SHELL        := /bin/bash
ROOT         := $(CURDIR)
NGINX_SRC    ?= /usr/share/nginx/src
BUILD        := $(ROOT)/build
NGX_BUILD    := $(BUILD)/nginx
MODULE       := $(NGX_BUILD)/objs/ngx_tunesheap_module.so
# the import's descriptions, printed from src/ts_resource.c (db/import-gen.c)
IMPORT_GEN   := $(BUILD)/import-gen
IMPORT_DESC  := $(BUILD)/import-resources.sql
VAR          := $(ROOT)/var
PG_DATA      := $(VAR)/pg
PG_PORT      ?= 5433
REDIS_DIR    := $(VAR)/redis
REDIS_PORT   ?= 6380
HTTP_PORT    := 8080
NGINX        ?= /usr/sbin/nginx
NGINX_PREFIX := $(VAR)/nginx
NGINX_CONF   := $(ROOT)/conf/tunesheap.dev.conf
SCOPES       ?= read,write
# the listen backlog of conf/tunesheap.dev.conf: the kernel caps it here
SOMAXCONN    ?= 16384

SOURCES := config ngx_tunesheap_module.c $(wildcard src/*.c src/*.h)

# Debian packages: build, run, test and benchmark
PACKAGES := nginx-core nginx-dev libpq-dev libyajl-dev libhiredis-dev \
	postgresql postgresql-contrib redis-server wrk iproute2 curl \
	libtest-base-perl libtext-diff-perl libtest-longstring-perl \
	libipc-run-perl libwww-perl liburi-perl liblist-moreutils-perl valgrind \
	sox libsox-fmt-mp3 lame vorbis-tools opus-tools flac ffmpeg espeak-ng \
	python3-botocore openssl haproxy chromium

.PHONY: all deps build run stop stop-nginx test test-valgrind node openapi \
	import bench fleet fleet-stop fleet-bench capacity apikey apikey-revoke clean \
	deb ansible-check converge soak mutate fuzz

all: build

deps:
	@missing=$$(for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null; \
	fi

build: $(MODULE) $(IMPORT_DESC)

# nginx's configure runs again only when the addon script changes
$(NGX_BUILD)/objs/Makefile: config
	rm -rf $(NGX_BUILD)
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && source ./conf_flags && \
		./configure "$${NGX_CONF_FLAGS[@]}" \
			--with-cc-opt="-Wall -Wextra -Wno-unused-parameter -Werror" \
			--add-dynamic-module=$(ROOT) >$(BUILD)/configure.log

$(MODULE): $(NGX_BUILD)/objs/Makefile $(SOURCES)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules >$(BUILD)/make.log \
		|| { cat $(BUILD)/make.log; exit 1; }
	@echo "built $(MODULE)"

# ts_resource.c compiled as in the module (nginx's include paths); only
# its tables are linked in.  debian/rules points these at its own build.
NGX_SRCDIR   ?= $(NGX_BUILD)
NGX_OBJS     ?= $(NGX_BUILD)/objs

$(NGX_BUILD)/objs/ngx_auto_config.h: $(NGX_BUILD)/objs/Makefile

$(IMPORT_GEN): db/import-gen.c $(NGX_OBJS)/ngx_auto_config.h $(SOURCES)
	mkdir -p $(BUILD)
	$(CC) -O -Wall -Wextra -Wno-unused-parameter -Werror \
		-ffunction-sections -fdata-sections -Wl,--gc-sections \
		$(addprefix -I $(NGX_SRCDIR)/src/,core event event/modules \
			os/unix http http/modules http/v2) \
		-I $(NGX_OBJS) -I $(ROOT)/src -I /usr/include/postgresql \
		-o $@ $(ROOT)/db/import-gen.c $(ROOT)/src/ts_resource.c

$(IMPORT_DESC): $(IMPORT_GEN)
	$(IMPORT_GEN) >$@.tmp && mv $@.tmp $@

run: deps build
	@db/pg.sh start $(PG_DATA) $(PG_PORT)
	@db/redis.sh start $(REDIS_DIR) $(REDIS_PORT)
	@if [ "$$(db/pg.sh psql $(PG_DATA) tunesheap -Atc \
		'SELECT count(*) FROM artists')" = 0 ]; then \
		db/import.sh "$$(db/pg.sh dsn $(PG_DATA))" db/sample-catalog.json; \
	fi
	@mkdir -p $(NGINX_PREFIX)/logs $(NGINX_PREFIX)/tmp $(VAR)/media/.tmp
	@# the audio is the workers', no one else's: started as root, nginx's
	@# workers run as nobody:nogroup (its default `user`), else as us
	@if [ "$$(id -u)" = 0 ]; then chown -R nobody:nogroup $(VAR)/media; fi
	@chmod 0750 $(VAR)/media $(VAR)/media/.tmp
	@ln -sfn $(ROOT)/www $(NGINX_PREFIX)/www    # the player (tunesheap-www.conf)
	@$(MAKE) -s stop-nginx
	@bench/somaxconn.sh $(SOMAXCONN)
	@ulimit -n $$(ulimit -Hn) 2>/dev/null; \
		$(NGINX) -p $(NGINX_PREFIX)/ -c $(NGINX_CONF)
	@for i in $$(seq 50); do \
		curl -fs -o /dev/null http://127.0.0.1:$(HTTP_PORT)/api/v1/health \
			&& break; sleep 0.2; done
	@curl -fsS http://127.0.0.1:$(HTTP_PORT)/api/v1/health >/dev/null
	@db/sample-audio.sh $(PG_DATA) http://127.0.0.1:$(HTTP_PORT)
	@echo "Tunesheap is running: http://127.0.0.1:$(HTTP_PORT)/ (the player)," \
		"http://127.0.0.1:$(HTTP_PORT)/api/v1/artists"
	@echo "Stop it with: make stop (data stays in var/)"

stop: stop-nginx
	@db/redis.sh stop $(REDIS_DIR)
	@db/pg.sh stop $(PG_DATA)
	@echo "stopped"

# nginx keeps a loaded module across reloads: a new build needs a restart
stop-nginx:
	@pidfile=$(NGINX_PREFIX)/logs/nginx.pid; \
	if [ -f $$pidfile ] && kill -QUIT $$(cat $$pidfile) 2>/dev/null; then \
		for i in $$(seq 100); do [ -f $$pidfile ] || break; sleep 0.1; done; \
	fi

# the suites' S3 (s3rver, from npm) is installed before t/run.sh, which
# runs without a network
test: deps build node
	t/run.sh

node:
	@command -v npm >/dev/null || { sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get install -y -qq --no-install-recommends nodejs npm \
		>/dev/null; }
	@t/tools/s3rver.sh install >/dev/null
	@t/tools/webtools.sh install

# www/openapi.json is made by t/tools/openapi-gen.js (edit that), then
# linted with @redocly/cli; t/990-openapi.t checks both
openapi: node
	node t/tools/openapi-gen.js
	REDOCLY_TELEMETRY=off var/node/node_modules/.bin/redocly lint \
		--extends=recommended-strict www/openapi.json

# every suite with nginx under memcheck (t/tools/valgrind.sh): any
# finding not suppressed with a reason in t/valgrind.supp fails it; the
# logs and a summary stay in var/valgrind/
.PHONY: valgrind
valgrind: deps build node
	t/tools/valgrind.sh

test-valgrind: valgrind

# deliberate breakages (t/tools/mutations), one at a time on a scratch copy:
# each must make its suites fail; ONLY=pattern picks some by name
mutate: deps node
	t/tools/mutate.sh $(ONLY)

# libFuzzer on the module's parsers (t/fuzz/README.md): FUZZ_SECONDS each,
# FUZZ_TARGETS (all by default); any finding fails it
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

fuzz: deps
	@command -v clang >/dev/null \
		&& [ -f "$$(clang -print-file-name=libclang_rt.asan-x86_64.so)" ] \
		|| { sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
			--no-install-recommends clang libclang-rt-dev >/dev/null; }
	FUZZ_SECONDS=$(FUZZ_SECONDS) t/fuzz/run.sh $(FUZZ_TARGETS)

import: $(IMPORT_DESC)
	@[ -n "$(CATALOG)" ] || { echo "usage: make import CATALOG=file.json"; exit 2; }
	@db/pg.sh start $(PG_DATA) $(PG_PORT) >/dev/null
	db/import.sh "$$(db/pg.sh dsn $(PG_DATA))" "$(CATALOG)"

bench: deps build
	bench/run.sh

# a local fleet: N nodes behind HAProxy (t/tools/fleet.sh), and the seed's
# experiment on it (bench/fleet-bench.sh)
N ?= 3
fleet: deps build
	@t/tools/fleet.sh start $(N)

fleet-stop:
	@t/tools/fleet.sh stop

fleet-bench: deps build
	bench/fleet-bench.sh

# requests per core of nginx, Postgres and Redis, and the README's
# "Capacity on paper" arithmetic from them (bench/capacity.sh)
capacity: deps build
	bench/capacity.sh

# reads and writes with Postgres/Redis restarts, a frozen Redis and a
# reload on a schedule; every acknowledged write kept once (t/tools/soak.sh)
DURATION ?= 60
soak: deps build
	t/tools/soak.sh $(DURATION)

# make apikey NAME=mobile-app [SCOPES=read,write]; make apikey-revoke NAME=...
apikey:
	@[ -n "$(NAME)" ] || { echo "usage: make apikey NAME=... [SCOPES=read,write]"; exit 2; }
	@db/pg.sh start $(PG_DATA) $(PG_PORT) >/dev/null
	@db/apikey.sh $(PG_DATA) create "$(NAME)" "$(SCOPES)"

apikey-revoke:
	@[ -n "$(NAME)" ] || { echo "usage: make apikey-revoke NAME=..."; exit 2; }
	@db/apikey.sh $(PG_DATA) revoke "$(NAME)"

# The Debian package, built from a copy of the tree in build/deb/ (so the
# source tree gets no debian/ build files and dpkg-buildpackage's ../ output
# stays in build/deb/), then checked by lintian: any tag not explained by an
# override in debian/ fails the target.
DEB_DIR  := $(BUILD)/deb
DEB_TREE := $(DEB_DIR)/tunesheap
DEB_PACKAGES := debhelper nginx-dev dpkg-dev lintian libpq-dev libyajl-dev \
	libhiredis-dev libssl-dev

deb:
	@$(MAKE) -s deps PACKAGES="$(DEB_PACKAGES)"
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_TREE)
	tar -C $(ROOT) --exclude=./.git --exclude=./build --exclude=./var \
		--exclude=./t/servroot -cf - . | tar -C $(DEB_TREE) -xf -
	cd $(DEB_TREE) && dpkg-buildpackage -us -uc -b >$(DEB_DIR)/build.log 2>&1 \
		|| { tail -n 40 $(DEB_DIR)/build.log; exit 1; }
	rm -rf $(DEB_TREE)
	lintian --fail-on warning,error,info,pedantic -I -E --pedantic \
		$(DEB_DIR)/*.changes >$(DEB_DIR)/lintian.log 2>&1; \
		status=$$?; grep -v '^running with root' $(DEB_DIR)/lintian.log; \
		exit $$status
	@ls $(DEB_DIR)/*.deb

# ansible/: lint (production profile; --offline still validates module
# arguments) and a syntax check of every playbook with every inventory
ANSIBLE_PACKAGES := ansible ansible-lint
PLAYBOOKS := site.yml aws.yml aws-destroy.yml

ansible-check:
	@$(MAKE) -s deps PACKAGES="$(ANSIBLE_PACKAGES)"
	cd ansible && ansible-lint --offline --nocolor -q
	@cd ansible && for inv in inventories/*/hosts.yml test/inventory.yml; do \
		for p in $(PLAYBOOKS); do \
			ansible-playbook -i $$inv --syntax-check $$p >/dev/null \
				|| { echo "syntax-check failed: $$p with $$inv"; exit 1; }; \
		done; done; echo "ansible: lint and syntax-check passed"

# site.yml converged onto a fresh debootstrap root (bounded in time; it
# cleans up after itself): see ansible/README.md
converge:
	@$(MAKE) -s deps PACKAGES="$(ANSIBLE_PACKAGES) $(DEB_PACKAGES) debootstrap curl iproute2"
	ansible/test/converge.sh

clean:
	rm -rf $(BUILD)
