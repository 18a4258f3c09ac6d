#!/usr/bin/env bash
# How fast a pipe is read depending on where in a page the reads land: a child writes MB
# megabytes into a 1 MiB pipe in 4 KiB writes (as `seq` does through stdio); the parent reads
# it in 64 KiB reads (as a shell step's pump does) into a buffer at each page offset given.
# Why `src/exec/shell/readbuf.rs` places its bytes 2,048 bytes into a page.
#
#   bench/pipe_read_offset.sh                    # offsets 0 16 64 128 2048 4080, 256 MB, 3 runs
#   OFFSETS="0 2048" MB=512 RUNS=5 bench/pipe_read_offset.sh
#
# Prints each offset's median wall time over RUNS. Needs: cc.
set -euo pipefail

OFFSETS=${OFFSETS:-"0 16 64 128 2048 4080"}
MB=${MB:-256}
RUNS=${RUNS:-3}

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-pipe-offset.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/probe.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int off = atoi(argv[1]);
    long total = atol(argv[2]) << 20;
    int p[2];
    if (pipe(p) != 0) return 1;
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        char b[4096];
        memset(b, 'x', sizeof b);
        for (long w = 0; w < total; w += sizeof b)
            if (write(p[1], b, sizeof b) != sizeof b) _exit(1);
        _exit(0);
    }
    close(p[1]);
    char *mem = aligned_alloc(4096, 1 << 20);
    memset(mem, 0, 1 << 20);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    long got = 0;
    ssize_t n;
    while ((n = read(p[0], mem + off, 65536)) > 0) got += n;
    clock_gettime(CLOCK_MONOTONIC, &b);
    waitpid(pid, NULL, 0);
    if (got != total) return 1;
    printf("%.1f\n", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
    return 0;
}
C
cc -O2 -o "$work/probe" "$work/probe.c"

echo "| page offset of the reads | ${MB} MB read, median of $RUNS (ms) |"
echo "|---:|---:|"
for off in $OFFSETS; do
    for ((i = 0; i < RUNS; i++)); do "$work/probe" "$off" "$MB"; done >"$work/times"
    med=$(sort -n "$work/times" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    echo "| $off | $med |"
done
