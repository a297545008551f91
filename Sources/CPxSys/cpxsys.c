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
#include <netdb.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

// A remote engine's way out on a signal at its host (pxsys_leave_on_signals): the first such
// signal, and the pipes that wake its Python thread and its link thread.
static volatile sig_atomic_t leave_signal;
static int leave_wake_fds[2] = {-1, -1};

static void request_leave(int sig) {
    int saved = errno;
    if (leave_signal == 0) leave_signal = sig;
    for (int i = 0; i < 2; i++)
        if (leave_wake_fds[i] >= 0) (void)!write(leave_wake_fds[i], "x", 1);
    errno = saved;
}

static void sigint_filter(int sig, siginfo_t *info, void *context) {
    // A queued signal names its task: one that arrives after that task ended is dropped. Other
    // senders (kill -INT, os.kill in user code) interrupt whatever runs, as in any Python; between
    // tasks, they end a remote engine (Ctrl-C at its terminal).
    int queued = info != NULL && info->si_code == SI_QUEUE;
    uint64_t running = __atomic_load_n(&current_task, __ATOMIC_SEQ_CST);
    if (queued && (uint64_t)(uintptr_t)info->si_value.sival_ptr != running) return;
    if (!queued && running == 0 && leave_wake_fds[0] >= 0) {
        request_leave(sig);
        return;
    }
    if (python_sigint.sa_flags & SA_SIGINFO) python_sigint.sa_sigaction(sig, info, context);
    else python_sigint.sa_handler(sig);
}

int pxsys_filter_interrupts(void) {
    struct sigaction current;
    if (sigaction(SIGINT, NULL, &current) != 0) return -1;
    if (!(current.sa_flags & SA_SIGINFO) && (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN)) return 0;
    // Called again after Python's signal.signal put its own handler back (pxsh.client does, see
    // _engine_interrupt_filter); a second call with the filter in place changes nothing.
    if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == sigint_filter) return 0;
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

int pxsys_interrupt_thread_task(pthread_t thread, uint64_t task) {
    union sigval value;
    value.sival_ptr = (void *)(uintptr_t)task;
    return pthread_sigqueue(thread, SIGINT, value);
}

static void leave_handler(int sig) { request_leave(sig); }

int pxsys_leave_on_signals(int python_wake_fd, int link_wake_fd) {
    leave_wake_fds[0] = python_wake_fd;
    leave_wake_fds[1] = link_wake_fd;
    struct sigaction action = {0};
    action.sa_handler = leave_handler;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGTERM, &action, NULL) != 0) return -1;
    return sigaction(SIGHUP, &action, NULL);
}

int pxsys_leave_signal(void) { return leave_signal; }

// MARK: - Crash reports (remote engines)

static void (*crash_report)(int);
static pid_t crash_reporting_pid;
static volatile sig_atomic_t crash_signal;

static void die_of_crash_signal(int sig) {
    (void)sig;
    signal(crash_signal, SIG_DFL);
    raise(crash_signal);
}

static void crash_handler(int sig) {
    // A process that user code forked must not speak on the engine's connection.
    if (crash_signal == 0 && getpid() == crash_reporting_pid && crash_report != NULL) {
        crash_signal = sig;
        // The report is not async-signal-safe (a crash inside malloc could leave it waiting): the
        // process dies of its own signal all the same, within 3 s.
        signal(SIGALRM, die_of_crash_signal);
        alarm(3);
        crash_report(sig);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

int pxsys_report_crashes(void (*report)(int)) {
    crash_report = report;
    crash_reporting_pid = getpid();
    struct sigaction action = {0};
    action.sa_handler = crash_handler;
    action.sa_flags = SA_NODEFER;
    sigemptyset(&action.sa_mask);
    int signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (sigaction(signals[i], &action, NULL) != 0) return -1;
    return 0;
}

// MARK: - TCP

/// Resolves `address:port` and tries each address in turn: a non-blocking, close-on-exec socket that
/// `attempt` binds or connects (0 on success, else -1 with errno set). Returns the first socket that
/// worked, or -1 with the last failure's errno (`none_errno` when there was no address).
static int pxsys_tcp_first_address(
    const char *address, int port, int flags, int none_errno,
    int (*attempt)(int fd, const struct addrinfo *info, void *context), void *context
) {
    struct addrinfo hints = {0}, *found = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = flags;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(address, service, &hints, &found) != 0 || found == NULL) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    int fd = -1;
    int saved = none_errno;
    for (struct addrinfo *info = found; info != NULL; info = info->ai_next) {
        fd = socket(info->ai_family, info->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, info->ai_protocol);
        if (fd < 0) { saved = errno; continue; }
        if (attempt(fd, info, context) == 0) break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd < 0) errno = saved;
    return fd;
}

static int pxsys_tcp_bind_and_listen(int fd, const struct addrinfo *info, void *context) {
    (void)context;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    return bind(fd, info->ai_addr, info->ai_addrlen) == 0 && listen(fd, 128) == 0 ? 0 : -1;
}

int pxsys_tcp_listen(const char *address, int port, int *bound_port) {
    int fd = pxsys_tcp_first_address(address, port, AI_PASSIVE, EADDRNOTAVAIL, pxsys_tcp_bind_and_listen, NULL);
    if (fd < 0) return -1;
    struct sockaddr_storage bound;
    socklen_t length = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &length) == 0) {
        if (bound.ss_family == AF_INET) *bound_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        else if (bound.ss_family == AF_INET6) *bound_port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    }
    return fd;
}

/// Connects within `*(int *)context` milliseconds, then makes the socket blocking.
static int pxsys_tcp_connect_within(int fd, const struct addrinfo *info, void *context) {
    int timeout_ms = *(int *)context;
    int result = connect(fd, info->ai_addr, info->ai_addrlen);
    if (result != 0 && errno == EINPROGRESS) {
        struct pollfd waiting = {.fd = fd, .events = POLLOUT};
        int ready;
        do { ready = poll(&waiting, 1, timeout_ms); } while (ready < 0 && errno == EINTR);
        if (ready == 0) {
            errno = ETIMEDOUT;
        } else if (ready > 0) {
            int error = 0;
            socklen_t length = sizeof error;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
            if (error == 0) result = 0; else errno = error;
        }
    }
    if (result != 0) return -1;
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return 0;
}

int pxsys_tcp_connect(const char *address, int port, int timeout_ms) {
    return pxsys_tcp_first_address(address, port, 0, ECONNREFUSED, pxsys_tcp_connect_within, &timeout_ms);
}

int pxsys_tcp_configure(int fd) {
    int on = 1, idle = 5, interval = 2, count = 3;
    unsigned int user_timeout = 10000;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
    return 0;
}

static int pxsys_numeric_address(const struct sockaddr *address, socklen_t size, char *buffer, size_t length) {
    if (getnameinfo(address, size, buffer, length, NULL, 0, NI_NUMERICHOST) != 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int pxsys_peer_address(int fd, char *buffer, size_t length) {
    struct sockaddr_storage peer;
    socklen_t size = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &size) != 0) return -1;
    return pxsys_numeric_address((struct sockaddr *)&peer, size, buffer, length);
}

int pxsys_route_source_address(const char *destination, char *buffer, size_t length) {
    struct addrinfo hints = {0}, *found = NULL;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(destination, "9", &hints, &found) != 0 || found == NULL) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(found->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int result = -1;
    if (fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
        struct sockaddr_storage source;
        socklen_t size = sizeof source;
        if (getsockname(fd, (struct sockaddr *)&source, &size) == 0)
            result = pxsys_numeric_address((struct sockaddr *)&source, size, buffer, length);
    }
    int saved = errno;
    if (fd >= 0) close(fd);
    freeaddrinfo(found);
    errno = saved;
    return result;
}

int pxsys_first_interface_address(char *buffer, size_t length) {
    struct ifaddrs *interfaces = NULL;
    if (getifaddrs(&interfaces) != 0) return -1;
    int result = -1;
    for (int family = AF_INET; result != 0 && family != 0; family = family == AF_INET ? AF_INET6 : 0) {
        for (struct ifaddrs *each = interfaces; each != NULL && result != 0; each = each->ifa_next) {
            if (each->ifa_addr == NULL || each->ifa_addr->sa_family != family) continue;
            if (!(each->ifa_flags & IFF_UP) || (each->ifa_flags & IFF_LOOPBACK)) continue;
            socklen_t size = sizeof(struct sockaddr_in);
            if (family == AF_INET6) {
                if (IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)each->ifa_addr)->sin6_addr)) continue;
                size = sizeof(struct sockaddr_in6);
            }
            result = pxsys_numeric_address(each->ifa_addr, size, buffer, length);
        }
    }
    freeifaddrs(interfaces);
    if (result != 0) errno = EADDRNOTAVAIL;
    return result;
}

// MARK: - Engines forked from a zygote

int pxsys_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

pid_t pxsys_fork_grandchild(int stdout_fd, int stderr_fd, int new_session) {
    int channel[2];
    if (pipe2(channel, O_CLOEXEC) != 0) return -1;
    pid_t middle = fork();
    if (middle < 0) {
        close(channel[0]);
        close(channel[1]);
        return -1;
    }
    if (middle == 0) {
        pid_t self = getpid();
        pid_t grandchild = fork();
        if (grandchild == 0) {
            close(channel[0]);
            close(channel[1]);
            // The middle process exits at once; until then the kernel has not yet handed this one
            // to the subreaper, and a parent-death signal set now would fire at the middle's exit.
            while (getppid() == self) sched_yield();
            int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) _exit(127);
            close(null_fd);
            if (stdout_fd > 2) close(stdout_fd);
            if (stderr_fd > 2 && stderr_fd != stdout_fd) close(stderr_fd);
            if (new_session) setsid();
            else setpgid(0, 0);
            return 0;
        }
        ssize_t ignored = write(channel[1], &grandchild, sizeof grandchild);
        (void)ignored;
        _exit(0);
    }
    close(channel[1]);
    pid_t grandchild = -1;
    ssize_t count;
    do count = read(channel[0], &grandchild, sizeof grandchild);
    while (count < 0 && errno == EINTR);
    close(channel[0]);
    int status;
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {}
    if (count != (ssize_t)sizeof grandchild || grandchild < 0) {
        errno = EAGAIN;
        return -1;
    }
    return grandchild;
}

pid_t pxsys_fork_with_descriptors(int stdin_fd, int stdout_fd, int stderr_fd) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    if (dup2(stdin_fd, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) _exit(127);
    // As after posix_spawn: every signal's default action (the parent's handlers, such as the Swift
    // runtime's crash reporter, are not this process's) and none blocked.
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    // Nothing of the parent's stays open: a copy of its end of a socket would hide that it closed.
    if (syscall(SYS_close_range, 3, ~0U, 0) != 0) {
        long limit = sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < (limit > 0 && limit < 65536 ? limit : 65536); fd++) close(fd);
    }
    setpgid(0, 0);
    return 0;
}

pid_t pxsys_fork_in_own_group(void) {
    pid_t pid = fork();
    if (pid == 0) setpgid(0, 0);
    return pid;
}

ssize_t pxsys_send_with_fds(int socket_fd, const void *bytes, size_t length, const int *fds, int fd_count) {
    char control[CMSG_SPACE(sizeof(int) * 4)];
    if (fd_count < 0 || fd_count > 4) { errno = EINVAL; return -1; }
    struct iovec vector = {.iov_base = (void *)bytes, .iov_len = length};
    struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1};
    if (fd_count > 0) {
        memset(control, 0, sizeof control);
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
        memcpy(CMSG_DATA(header), fds, sizeof(int) * fd_count);
    }
    ssize_t sent;
    do sent = sendmsg(socket_fd, &message, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    return sent;
}

ssize_t pxsys_receive_with_fds(int socket_fd, void *bytes, size_t length, int *fds, int *fd_count) {
    char control[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec vector = {.iov_base = bytes, .iov_len = length};
    struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof control};
    ssize_t received;
    do received = recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
    while (received < 0 && errno == EINTR);
    int count = 0;
    if (received >= 0) {
        for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
            if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
            int n = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
                if (count < 4) fds[count++] = fd;
                else close(fd);
            }
        }
    }
    *fd_count = count;
    return received;
}

pid_t pxsys_first_exited_child(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
    return info.si_pid;
}

int pxsys_set_command_line(char **argv, int argc, const char *const *words, int count) {
    if (argc < 1 || !argv[0]) return -1;
    // The original arguments lie end to end; only that span can be rewritten. It is measured once,
    // before the first rewrite (a zygote forked from the controller is renamed, then its engines).
    static char *start;
    static size_t room;
    if (!start) {
        char *end = argv[0] + strlen(argv[0]) + 1;
        for (int i = 1; i < argc && argv[i] == end; i++) end = argv[i] + strlen(argv[i]) + 1;
        start = argv[0];
        room = (size_t)(end - start);
    }
    size_t used = 0;
    for (int i = 0; i < count && used < room; i++) {
        size_t length = strlen(words[i]) + 1;
        if (used + length > room) length = room - used;
        memcpy(start + used, words[i], length);
        used += length;
    }
    memset(start + used, 0, room - used);
    start[room - 1] = 0;
    return 0;
}

int pxsys_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}
