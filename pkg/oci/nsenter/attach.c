// The attach socket: a SOCK_SEQPACKET socket in the container's state
// directory through which CRI's Attach reaches a running container. The
// monitor, which owns the container's stdio, copies the container's output
// to every attached client and the clients' input to the container's stdin.
// Every packet starts with its type (attach.h); the monitor closes the
// connections when it exits, after the container did.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "attach.h"
#include "strbuf.h"

int crisp_attach_init(struct crisp_attach *a, int statefd, int stdin_fd, int once)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct crisp_strbuf b;
	mode_t mask;
	int bound;

	a->listen_fd = -1;
	for (int i = 0; i < CRISP_ATTACH_CLIENTS; i++)
		a->clients[i] = -1;
	a->stdin_fd = stdin_fd;
	a->once = once;
	a->tty = -1;
	a->pending_len = a->pending_off = 0;
	a->next = 0;
	if (stdin_fd >= 0)
		fcntl(stdin_fd, F_SETFL, fcntl(stdin_fd, F_GETFL) | O_NONBLOCK);
	// The state directory's path may be longer than a socket address:
	// bind through the descriptor.
	crisp_strbuf_init(&b, addr.sun_path, sizeof(addr.sun_path));
	crisp_strbuf_printf(&b, "/proc/self/fd/%d/" CRISP_ATTACH_SOCKET_TMP, statefd);
	if (b.truncated) {
		errno = ENAMETOOLONG;
		return -1;
	}
	a->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->listen_fd < 0)
		return -1;
	// Only root, crisp, may connect: the socket is 0600 from the start.
	mask = umask(0177);
	bound = bind(a->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(mask);
	// Renamed only once it listens: bind makes the name before listen,
	// and a client that connected in between would be refused.
	if (bound < 0 || listen(a->listen_fd, 8) < 0 ||
	    renameat(statefd, CRISP_ATTACH_SOCKET_TMP, statefd, CRISP_ATTACH_SOCKET) < 0) {
		int err = errno;
		close(a->listen_fd);
		a->listen_fd = -1;
		errno = err;
		return -1;
	}
	return 0;
}

int crisp_attach_pollfds(struct crisp_attach *a, struct pollfd *fds)
{
	int n = 0;
	// Input waits in the clients' sockets while the pipe is full; their
	// hangups too, so that a client's last packets are not dropped with
	// it (and poll does not spin on a hangup it cannot act on).
	int full = a->pending_len > a->pending_off;

	fds[n++] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
	fds[n++] = (struct pollfd){.fd = full ? a->stdin_fd : -1, .events = POLLOUT};
	for (int i = 0; i < CRISP_ATTACH_CLIENTS; i++)
		fds[n++] = (struct pollfd){.fd = full ? -1 : a->clients[i], .events = POLLIN};
	return n;
}

void crisp_attach_close_stdin(struct crisp_attach *a)
{
	int fd = a->stdin_fd;

	if (fd < 0)
		return;
	a->stdin_fd = -1;
	if (a->tty >= 0) {
		// A terminal has no end of input but the one its user types:
		// the EOF character, which ends a read at the start of a line.
		// It follows what input is still pending, as far as that goes.
		struct termios t;
		char eof = tcgetattr(a->tty, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
		if (a->pending_len > a->pending_off && write(fd, a->pending + a->pending_off, a->pending_len - a->pending_off) < 0) {
			// The terminal is gone or full: the EOF may not fit either.
		}
		if (write(fd, &eof, 1) < 0) {
			// As above.
		}
	}
	close(fd);
	a->pending_len = a->pending_off = 0;
}

// flush writes pending input to the container's stdin as far as it goes.
static void flush(struct crisp_attach *a)
{
	while (a->stdin_fd >= 0 && a->pending_off < a->pending_len) {
		ssize_t w = write(a->stdin_fd, a->pending + a->pending_off, a->pending_len - a->pending_off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			// The container closed its stdin.
			crisp_attach_close_stdin(a);
			return;
		}
		a->pending_off += w;
	}
	a->pending_len = a->pending_off = 0;
}

// drop ends client i's attach; with stdin_once that ends the stdin too.
static void drop(struct crisp_attach *a, int i)
{
	close(a->clients[i]);
	a->clients[i] = -1;
	if (a->once)
		crisp_attach_close_stdin(a);
}

static void client_input(struct crisp_attach *a, int i)
{
	static char buf[CRISP_ATTACH_PACKET];
	ssize_t n;

	do
		n = recv(a->clients[i], buf, sizeof(buf), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		drop(a, i);
		return;
	}
	switch (buf[0]) {
	case CRISP_ATTACH_STDIN:
		if (a->stdin_fd < 0 || n == 1)
			return;
		memcpy(a->pending, buf + 1, n - 1);
		a->pending_len = n - 1, a->pending_off = 0;
		flush(a);
		return;
	case CRISP_ATTACH_STDIN_EOF:
		if (a->once)
			crisp_attach_close_stdin(a);
		return;
	case CRISP_ATTACH_RESIZE:
		if (a->tty >= 0 && n >= 5) {
			unsigned short size[2];
			memcpy(size, buf + 1, sizeof(size));
			struct winsize ws = {.ws_row = size[0], .ws_col = size[1]};
			ioctl(a->tty, TIOCSWINSZ, &ws);
		}
		return;
	}
}

void crisp_attach_handle(struct crisp_attach *a, const struct pollfd *fds, int n)
{
	if (n < 2 || a->listen_fd < 0)
		return;
	if (fds[1].revents)
		flush(a);
	// Clients take turns, from the one after the last served: each
	// client's packet goes to the pipe whole before the next is read, so
	// that input of two clients never mixes, and none starves the others.
	for (int k = 0; k < CRISP_ATTACH_CLIENTS; k++) {
		int i = (a->next + k) % CRISP_ATTACH_CLIENTS;
		if (i + 2 >= n || a->clients[i] < 0 || fds[i + 2].fd != a->clients[i] || !fds[i + 2].revents)
			continue;
		if (fds[i + 2].revents & POLLIN) {
			// The pipe did not take the last packet yet: this client's
			// waits in its socket for the next round.
			if (a->pending_off < a->pending_len)
				continue;
			client_input(a, i);
			a->next = (i + 1) % CRISP_ATTACH_CLIENTS;
		} else if (fds[i + 2].revents & (POLLHUP | POLLERR)) {
			drop(a, i);
		}
	}
	if (fds[0].revents & POLLIN) {
		for (;;) {
			int c = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), i;
			if (c < 0)
				break;
			for (i = 0; i < CRISP_ATTACH_CLIENTS && a->clients[i] >= 0; i++)
				;
			if (i == CRISP_ATTACH_CLIENTS) {
				close(c);
				continue;
			}
			a->clients[i] = c;
		}
	}
}

void crisp_attach_output(void *attach, int stream, const char *data, size_t n)
{
	struct crisp_attach *a = attach;
	static char buf[CRISP_ATTACH_PACKET];

	while (n > 0) {
		size_t chunk = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
		buf[0] = (char)stream;
		memcpy(buf + 1, data, chunk);
		for (int i = 0; i < CRISP_ATTACH_CLIENTS; i++) {
			if (a->clients[i] < 0)
				continue;
			if (send(a->clients[i], buf, chunk + 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN && errno != EINTR)
				drop(a, i);
		}
		data += chunk, n -= chunk;
	}
}
