// The container's attach socket, served by its monitor. See attach.c.
#ifndef CRISP_ATTACH_H
#define CRISP_ATTACH_H

#include <poll.h>
#include <stddef.h>

// The socket's name in the container's state directory.
#define CRISP_ATTACH_SOCKET "attach"
// The socket is bound and listening under this name first, then renamed:
// a client that sees the socket's name can connect at once.
#define CRISP_ATTACH_SOCKET_TMP "attach.tmp"
// At most this many clients are attached at once; more are refused.
#define CRISP_ATTACH_CLIENTS 16
// The largest packet either side sends, its type byte included.
#define CRISP_ATTACH_PACKET (32 * 1024)

// Packet types: the first byte of every packet on the socket.
enum {
	CRISP_ATTACH_STDIN = 0,	    // client → monitor: bytes for the container's stdin
	CRISP_ATTACH_STDOUT = 1,    // monitor → client: the container's stdout
	CRISP_ATTACH_STDERR = 2,    // monitor → client: the container's stderr
	CRISP_ATTACH_STDIN_EOF = 3, // client → monitor: the client's stdin ended
	CRISP_ATTACH_RESIZE = 4,    // client → monitor: rows and columns (two native uint16)
};

struct crisp_attach {
	int listen_fd; // -1 when there is no socket
	int clients[CRISP_ATTACH_CLIENTS];
	// stdin is the write end of the container's stdin pipe, -1 when the
	// container has none or it was closed; once closes it when the first
	// client that attached to it ends its input (CRI's stdin_once).
	int stdin_fd, once;
	// tty is the container's terminal master, for resizes; -1 without one.
	int tty;
	// pending holds input the pipe did not take yet; while it does, no
	// more input is read from clients.
	char pending[CRISP_ATTACH_PACKET];
	size_t pending_len, pending_off;
	// next is the client whose input is read first in the next round.
	int next;
};

// crisp_attach_init binds the socket in the state directory statefd.
// stdin_fd (or -1) is the container's stdin pipe. It returns -1 with errno
// set on failure.
int crisp_attach_init(struct crisp_attach *a, int statefd, int stdin_fd, int once);
// crisp_attach_pollfds fills fds with what the monitor's poll must watch
// for the attach socket and returns how many it used (at most
// CRISP_ATTACH_CLIENTS + 2).
int crisp_attach_pollfds(struct crisp_attach *a, struct pollfd *fds);
// crisp_attach_handle acts on the poll results of those fds.
void crisp_attach_handle(struct crisp_attach *a, const struct pollfd *fds, int n);
// crisp_attach_output sends output of stream (CRISP_ATTACH_STDOUT or
// CRISP_ATTACH_STDERR) to every client. A client that cannot take it
// loses it: the log, not the attach, is the complete record.
void crisp_attach_output(void *attach, int stream, const char *data, size_t n);
// crisp_attach_close_stdin closes the container's stdin.
void crisp_attach_close_stdin(struct crisp_attach *a);

#endif
