#ifndef CPXSYS_H
#define CPXSYS_H

// Thin wrappers for the Linux calls that Swift cannot reach directly: variadic functions (prctl, fcntl,
// ioctl), posix_spawn's attribute objects and GNU-only structs (struct ucred). Each returns -1 and sets
// errno on failure. Only PxPlatform calls them, through typed wrappers.

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Asks the kernel to send `sig` to this process when its parent thread exits. Wraps `prctl(PR_SET_PDEATHSIG)`.
int pxsys_set_parent_death_signal(int sig);

/// Reads the uid and pid of the process at the other end of a Unix socket. Wraps `getsockopt(SO_PEERCRED)`.
int pxsys_peer_credentials(int fd, uid_t *uid, pid_t *pid);

/// Spawns `path` with `argv`/`envp` in a new process group (or a new session when `new_session` is set),
/// with `stdin_fd`/`stdout_fd`/`stderr_fd` as its fds 0-2 (-1 keeps the parent's) and every signal's
/// disposition reset. Wraps `posix_spawn`. Returns the pid, or -1 with errno set.
pid_t pxsys_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd,
                  int stderr_fd, int new_session);

/// Sets or clears O_NONBLOCK. Wraps `fcntl`.
int pxsys_set_nonblocking(int fd, int nonblocking);

/// Sets FD_CLOEXEC. Wraps `fcntl`.
int pxsys_set_cloexec(int fd);

/// The width in columns of the terminal on `fd`, or 0 if it is not a terminal. Wraps `ioctl(TIOCGWINSZ)`.
int pxsys_terminal_width(int fd);

/// Bytes written to the pipe behind `fd` and not yet read, or -1. Wraps `ioctl(FIONREAD)`.
int pxsys_unread_bytes(int fd);

/// Returns freed heap memory to the system. Wraps glibc's `malloc_trim(0)`.
void pxsys_release_free_memory(void);

/// Puts a filter in front of the SIGINT handler that Python installed: a SIGINT sent with
/// `pxsys_interrupt_task` for a task other than the current one (see `pxsys_set_current_task`) is
/// dropped; any other SIGINT goes to Python. Does nothing where Python installed no handler.
int pxsys_filter_interrupts(void);

/// The task this engine runs now, or 0 between tasks. Async-signal-safe.
void pxsys_set_current_task(uint64_t task);

/// Sends SIGINT to `pid` for task `task` (its filter drops it if that task is not running). Wraps `sigqueue`.
int pxsys_interrupt_task(pid_t pid, uint64_t task);

/// Sends SIGINT to thread `thread` of this process for task `task`, as `pxsys_interrupt_task` does
/// to a process. Wraps `pthread_sigqueue`.
int pxsys_interrupt_thread_task(pthread_t thread, uint64_t task);

/// A remote engine ends on SIGTERM or SIGHUP, and on a SIGINT that is not a task's interrupt
/// while no task runs (Ctrl-C at its terminal; call after `pxsys_filter_interrupts`): the first
/// such signal is kept for `pxsys_leave_signal`, and a byte is written to both descriptors.
int pxsys_leave_on_signals(int python_wake_fd, int link_wake_fd);

/// The signal that asked the engine to leave (see `pxsys_leave_on_signals`); 0 if none came.
int pxsys_leave_signal(void);

/// On SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT in this process (not in one it forks), calls
/// `report` with the signal, then dies of that signal (also if `report` has not returned within
/// 3 s). Call it before Python's faulthandler is enabled: faulthandler writes the Python stack
/// first and then passes the signal on to this handler.
int pxsys_report_crashes(void (*report)(int));

/// The environment of this process (`environ`).
char **pxsys_environment(void);

// MARK: - TCP (engines on other hosts)

/// Listens on `address` (IPv4 or IPv6 literal or host name) and `port` (0: any free port), with
/// SO_REUSEADDR, close-on-exec and non-blocking. Stores the port bound in `*bound_port`. Wraps
/// `getaddrinfo`, `socket`, `bind` and `listen`. Returns the fd, or -1 with errno set (or EADDRNOTAVAIL
/// when the address does not resolve).
int pxsys_tcp_listen(const char *address, int port, int *bound_port);

/// Connects to `address`:`port`, giving up after `timeout_ms`. Returns a blocking, close-on-exec fd,
/// or -1 with errno set (ETIMEDOUT, ECONNREFUSED, EADDRNOTAVAIL for a name that does not resolve).
int pxsys_tcp_connect(const char *address, int port, int timeout_ms);

/// Turns on TCP_NODELAY and keepalive (idle 5 s, then every 2 s, 3 probes) and a 10 s
/// TCP_USER_TIMEOUT, so that a dead peer or a cut link ends the connection within seconds.
/// Wraps `setsockopt`.
int pxsys_tcp_configure(int fd);

/// Writes the numeric address of the peer of `fd` into `buffer` (NUL-terminated). Wraps
/// `getpeername` and `getnameinfo`.
int pxsys_peer_address(int fd, char *buffer, size_t length);

/// Writes into `buffer` the numeric address this host sends from to reach `destination` (an IPv4 or
/// IPv6 literal): the address of the interface of the route to it. A UDP socket's `connect` picks the
/// route; nothing is sent. Returns -1 with errno set when there is no route (ENETUNREACH).
int pxsys_route_source_address(const char *destination, char *buffer, size_t length);

/// Writes into `buffer` the first address of an interface that is up and not loopback: IPv4 first,
/// then IPv6 that is not link-local. Wraps `getifaddrs`. Returns -1 when there is none.
int pxsys_first_interface_address(char *buffer, size_t length);

// MARK: - Engines forked from a zygote
/// Makes this process the reaper of its orphaned descendants. Wraps `prctl(PR_SET_CHILD_SUBREAPER)`.
int pxsys_set_child_subreaper(void);
/// Forks twice, so that the new process is handed to the nearest subreaper (the controller) and is
/// its child, not this one's. In the new process: returns 0 once it has been handed over, with
/// /dev/null as fd 0, `stdout_fd`/`stderr_fd` as fds 1 and 2 (the originals closed) and a process
/// group (with `new_session`, a session) of its own. In the caller: returns the new pid, after the
/// middle process is reaped. Wraps `fork`.
pid_t pxsys_fork_grandchild(int stdout_fd, int stderr_fd, int new_session);
/// Forks a copy of this process, which must have one thread, with `stdin_fd`, `stdout_fd` and
/// `stderr_fd` (each above 2) as its fds 0-2, no other descriptor open, every signal's default
/// action, none blocked, and a process group of its own. Returns 0 in the new process, its pid in
/// the caller. Wraps `fork` and `close_range`.
pid_t pxsys_fork_with_descriptors(int stdin_fd, int stdout_fd, int stderr_fd);
/// Forks a copy of this process, which must have one thread, keeping its descriptors, signal
/// handlers and signal mask, in a process group of its own. Returns 0 in the new process, its pid in
/// the caller. Wraps `fork`.
pid_t pxsys_fork_in_own_group(void);
/// Sends `bytes` with up to 4 fds attached. Wraps `sendmsg(SCM_RIGHTS)`.
ssize_t pxsys_send_with_fds(int socket_fd, const void *bytes, size_t length, const int *fds, int fd_count);
/// Receives up to `length` bytes and up to 4 fds (close-on-exec), storing their count in `*fd_count`.
/// Wraps `recvmsg(SCM_RIGHTS)`.
ssize_t pxsys_receive_with_fds(int socket_fd, void *bytes, size_t length, int *fds, int *fd_count);
/// The pid of a child that has ended and is not yet reaped (left unreaped), 0 if none, -1 with no
/// children. Wraps `waitid(WNOWAIT)`.
pid_t pxsys_first_exited_child(void);
/// Rewrites the command line that `ps` and /proc/PID/cmdline show, within the space of the original
/// arguments (`argv`, as the process got it): `words`, cut where they do not fit.
int pxsys_set_command_line(char **argv, int argc, const char *const *words, int count);
/// A descriptor that becomes readable when process `pid` ends, close-on-exec. Wraps `pidfd_open`.
int pxsys_pidfd_open(pid_t pid);
#endif
