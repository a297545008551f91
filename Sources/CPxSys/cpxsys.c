#define _GNU_SOURCE
#include "cpxsys.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

int pxsys_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

int pxsys_peer_credentials(int fd, uid_t *uid, pid_t *pid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *uid = cred.uid;
    *pid = cred.pid;
    return 0;
}

pid_t pxsys_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd,
                  int stderr_fd, int new_session) {
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);

    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (new_session) flags |= POSIX_SPAWN_SETSID;
    else {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&attr, 0);
    }
    posix_spawnattr_setflags(&attr, flags);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);

    if (stdin_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    if (stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);

    pid_t pid = -1;
    int rc = posix_spawn(&pid, path, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) { errno = rc; return -1; }
    return pid;
}

int pxsys_set_nonblocking(int fd, int nonblocking) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    flags = nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags);
}

int pxsys_set_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

char **pxsys_environment(void) { return environ; }

int pxsys_terminal_width(int fd) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) != 0) return 0;
    return size.ws_col;
}

int pxsys_unread_bytes(int fd) {
    int count = 0;
    if (ioctl(fd, FIONREAD, &count) != 0) return -1;
    return count;
}

void pxsys_release_free_memory(void) { malloc_trim(0); }

// The task the engine runs (0 between tasks) and the SIGINT handler Python installed.
static uint64_t current_task;
static struct sigaction python_sigint;

static void sigint_filter(int sig, siginfo_t *info, void *context) {
    // A queued signal names its task: one that arrives after that task ended is dropped. Other
    // senders (kill -INT, os.kill in user code) interrupt whatever runs, as in any Python.
    if (info != NULL && info->si_code == SI_QUEUE &&
        (uint64_t)(uintptr_t)info->si_value.sival_ptr != __atomic_load_n(&current_task, __ATOMIC_SEQ_CST))
        return;
    if (python_sigint.sa_flags & SA_SIGINFO) python_sigint.sa_sigaction(sig, info, context);
    else python_sigint.sa_handler(sig);
}

int pxsys_filter_interrupts(void) {
    struct sigaction current;
    if (sigaction(SIGINT, NULL, &current) != 0) return -1;
    if (!(current.sa_flags & SA_SIGINFO) && (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN)) return 0;
    python_sigint = current;
    struct sigaction filter = current;
    filter.sa_sigaction = sigint_filter;
    filter.sa_flags = current.sa_flags | SA_SIGINFO;
    return sigaction(SIGINT, &filter, NULL);
}

void pxsys_set_current_task(uint64_t task) { __atomic_store_n(&current_task, task, __ATOMIC_SEQ_CST); }

int pxsys_interrupt_task(pid_t pid, uint64_t task) {
    union sigval value;
    value.sival_ptr = (void *)(uintptr_t)task;
    return sigqueue(pid, SIGINT, value);
}
