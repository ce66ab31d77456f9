# boxoffice - the user-facing targets. The build itself is CMake.
#   make        build build/boxoffice (release)
#   make run    install what is missing, build, serve the demo on 127.0.0.1:8080
#   make test   install what tests need, build (release, ASan+UBSan, TSan), run every suite
#   make fuzz   every libFuzzer target for FUZZ_SECONDS each (default 300)
#   make bench  every scenario of bench/bench.py on SQLite and PostgreSQL
#               (1 and 2 nodes): ratio tables, bench/results/latest.json;
#               BENCH_ARGS passes options (e.g. --backends sqlite --duration 5)
#   make bench-plot  PNG charts of the last run (gnuplot) in bench/results/
#   make bench-classic  the first slice's bench/run.sh (wrk table and the
#               connection-flood run)
#   make bench-sse  event-stream fan-out and the PostgreSQL feed cost (BENCHMARKS.md)
#   make soak   the model-based random test for SOAK_SECONDS (default 600);
#               BOXOFFICE_TEST_DB=postgres://... runs it on PostgreSQL
#   make install  build, then install under $(DESTDIR)$(PREFIX): the binary,
#               the man page, the systemd unit, the docs and the env example
#   make clean
.PHONY: all build deps run test bench bench-plot bench-classic bench-sse soak install clean format

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DB ?= sqlite:boxoffice.db
LISTEN ?= 127.0.0.1:8080

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake --preset release >/dev/null
	@cmake --build build -j$(JOBS) --target boxoffice

run: build
	./build/boxoffice serve --db $(DB) --listen $(LISTEN) $(ARGS)

test:
	@scripts/deps.sh test
	@cmake --preset release >/dev/null
	@cmake --build build -j$(JOBS)
	@cmake --preset asan >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cmake --preset tsan >/dev/null
	@cmake --build build-tsan -j$(JOBS) --target boxoffice contract_tests model_tests
	@cmake --preset fuzz >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target fuzz_targets
	@tests/run_all.sh

FUZZ_SECONDS ?= 300
fuzz:
	@scripts/deps.sh test
	@cmake --preset fuzz >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target fuzz_targets
	@FUZZ_RUNS=0 FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

bench:
	@scripts/deps.sh bench
	@cmake --preset release >/dev/null
	@cmake --build build -j$(JOBS) --target boxoffice
	@bench/bench.py $(BENCH_ARGS)

bench-plot:
	@scripts/deps.sh bench
	@bench/plot.py

bench-classic:
	@scripts/deps.sh bench
	@cmake --preset release >/dev/null
	@cmake --build build -j$(JOBS) --target boxoffice
	@bench/run.sh

# The event-stream fan-out (issue 9): 10,000 viewers, a burst of holds.
bench-sse:
	@scripts/deps.sh bench
	@cmake --preset release >/dev/null
	@cmake --build build -j$(JOBS) --target boxoffice
	@bench/sse_fanout.sh
	@bench/pg_feed_cost.sh

SOAK_SECONDS ?= 600
soak: deps
	@cmake --preset release >/dev/null
	@cmake --build build -j$(JOBS) --target model_tests
	@./build/tests/model_tests --seconds $(SOAK_SECONDS) --steps 400

# Install layout (GNU conventions). The unit is installed with the paths of
# this PREFIX and SYSCONFDIR written into it.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/boxoffice
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL ?= install

install: build
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(UNITDIR)
	$(INSTALL) -m 0755 build/boxoffice $(DESTDIR)$(BINDIR)/boxoffice
	$(INSTALL) -m 0644 docs/boxoffice.1 $(DESTDIR)$(MANDIR)/man1/boxoffice.1
	$(INSTALL) -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 deploy/env.example $(DESTDIR)$(DOCDIR)/env.example
	sed -e 's|/usr/local/bin/boxoffice|$(BINDIR)/boxoffice|g' \
	    -e 's|/usr/local/share/doc/boxoffice|$(DOCDIR)|g' \
	    -e 's|/etc/boxoffice/|$(SYSCONFDIR)/boxoffice/|g' \
	    deploy/boxoffice@.service >$(DESTDIR)$(UNITDIR)/boxoffice@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/boxoffice@.service

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-debug build-tsan build-fuzz
