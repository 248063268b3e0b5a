/* The counting `zfs` (and `zpool`) of bench/lab_zfs.py, compiled in the guest when it has a
 * C compiler: the same log lines as the bash wrapper there, without a shell's start in
 * front of every command. Under the lab's emulation (TCG) a bash start costs about as much
 * as a short zfs command, and a side that runs many commands (the engine, a peer tool) paid
 * it many times where the bare pipe paid it once: the instrument weighed on what it
 * measured. bench/lab_zfs.py prints what one command costs through it.
 *
 * Built with -DREAL="/path/zfs" -DPREFIX="" (or "zpool") -DLOG="..." -DTIMES="...":
 * - every command's argv goes to LOG, one line each, in words shlex.split reads back;
 * - with ZFSYNC_BENCH_TIME_STREAM=1, or for any verb but send/receive, its start and end
 *   (epoch seconds) and argv go to TIMES once it has ended; a send or receive untimed is
 *   exec'd in place (a stream's pipe stays the process's own).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

/* a word shlex.split reads as itself: as is when plain, else in single quotes */
static void quote(FILE *f, const char *s) {
    int plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || strchr("@%+=:,./-_#", *p) != NULL;
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", f);
        else
            fputc(*p, f);
    }
    fputc('\'', f);
}

static void words(FILE *f, int argc, char **argv) {
    if (PREFIX[0] != '\0')
        fprintf(f, "%s ", PREFIX);
    for (int i = 1; i < argc; i++) {
        quote(f, argv[i]);
        fputc(' ', f);
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    FILE *log = fopen(LOG, "a");
    if (log != NULL) {
        words(log, argc, argv);
        fputc('\n', log);
        fclose(log);
    }
    const char *verb = argc > 1 ? argv[1] : "";
    int stream = !strcmp(verb, "send") || !strcmp(verb, "receive") || !strcmp(verb, "recv");
    const char *timed = getenv("ZFSYNC_BENCH_TIME_STREAM");
    char *words_argv0 = argv[0];
    argv[0] = REAL;
    if (stream && !(timed != NULL && !strcmp(timed, "1"))) {
        execv(REAL, argv);
        perror(REAL);
        return 127;
    }
    double start = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 127;
    }
    if (pid == 0) {
        execv(REAL, argv);
        perror(REAL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    double end = now();
    argv[0] = words_argv0;
    FILE *times = fopen(TIMES, "a");
    if (times != NULL) {
        fprintf(times, "%.6f %.6f ", start, end);
        words(times, argc, argv);
        fputc('\n', times);
        fclose(times);
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
