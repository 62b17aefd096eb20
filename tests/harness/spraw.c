#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "spraw.h"

int spraw_ipc_connect(const char *url)
{
	static const uint8_t req0[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	static const uint8_t rep0[8] = {0, 'S', 'P', 0, 0, 0x31, 0, 0};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {5, 0};
	uint8_t peer[8];
	const char *path;
	int fd, e;

	if (strncmp(url, "ipc://", 6) != 0 || strlen(url + 6) >= sizeof(sun.sun_path)) {
		errno = EINVAL;
		return -1;
	}
	path = url + 6;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    send(fd, req0, sizeof(req0), MSG_NOSIGNAL) != sizeof(req0))
		goto fail;
	if (recv(fd, peer, sizeof(peer), MSG_WAITALL) != sizeof(peer) ||
	    memcmp(peer, rep0, sizeof(peer)) != 0) {
		errno = EPROTO;
		goto fail;
	}
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int spraw_ipc_send(int fd, uint32_t id, const uint8_t *body, size_t len, size_t *sent)
{
	uint64_t total = (uint64_t)len + 4;
	uint8_t frame[13] = {1};
	size_t done = 0;
	ssize_t n;

	for (int i = 0; i < 8; i++)
		frame[1 + i] = (uint8_t)(total >> (56 - 8 * i));
	id |= 0x80000000u;
	for (int i = 0; i < 4; i++)
		frame[9 + i] = (uint8_t)(id >> (24 - 8 * i));
	if (sent)
		*sent = 0;
	if (send(fd, frame, sizeof(frame), MSG_NOSIGNAL) != sizeof(frame))
		return -1;
	while (done < len) {
		n = send(fd, body + done, len - done < 65536 ? len - done : 65536, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		done += (size_t)n;
		if (sent)
			*sent = done;
	}
	return 0;
}
