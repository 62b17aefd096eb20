/* SHA-256 and size of many files at once: a pool of worker threads, each
 * streaming one file at a time in fixed-size chunks through a buffer and an
 * EVP_MD_CTX of its own, reused from file to file. Memory is constant
 * (threads x HASHSET_CHUNK) whatever the sizes of the files.
 *
 * Parallelism is across files only. SHA-256 is sequential within a file, so
 * one large file (model weights, the common case) is hashed by one core; what
 * can overlap there is reading with hashing, and the kernel does that: each
 * file is opened with POSIX_FADV_SEQUENTIAL (a larger read-ahead window) and
 * the next chunk is announced with POSIX_FADV_WILLNEED before the current one
 * is hashed, so the disk works while the CPU hashes.
 *
 * Files are started largest first (sizes from one fstatat each before any
 * hashing), so that a big file does not start last while the other workers
 * sit idle; results come back in the items' own slots, so in the input
 * order whatever the schedule. The first
 * error stops the other workers at their next chunk; the error names the file.
 */
#ifndef AICERT_HASHSET_H
#define AICERT_HASHSET_H

#include <stddef.h>
#include <stdint.h>

#define HASHSET_CHUNK               (1u << 20)
#define HASHSET_MAX_THREADS         64
#define HASHSET_DEFAULT_MAX_THREADS 8

/* Flags of hashset_opts. */
#define HASHSET_NOFOLLOW 0x1u /* a symbolic link (as the last component) is an error */
#define HASHSET_CHECK_ID 0x2u /* the file opened must be item.dev/item.ino */

struct hashset_item {
	const char *path; /* in: relative to opts.dirfd; names the file in errors */
	uint64_t dev;     /* in, with HASHSET_CHECK_ID: from an earlier stat */
	uint64_t ino;
	uint64_t size;      /* out */
	uint8_t sha256[32]; /* out */
};

struct hashset_progress {
	uint64_t bytes_done;
	uint64_t bytes_total; /* from a stat of every file before hashing starts */
	size_t files_done;
	size_t files_total;
	double elapsed; /* seconds since hashing started */
	int done;       /* 1 on the last call (also after an error) */
};

/* Called from the thread that called hashset_run(), at most every
 * HASHSET_PROGRESS_MS and once more at the end. Returning nonzero cancels the
 * run (AICERT_ERR_CANCELLED). */
typedef int (*hashset_progress_fn)(const struct hashset_progress *p, void *arg);
#define HASHSET_PROGRESS_MS 100

struct hashset_opts {
	unsigned threads; /* 0: online CPUs, at most HASHSET_DEFAULT_MAX_THREADS */
	int dirfd;        /* AT_FDCWD after hashset_opts_init() */
	unsigned flags;   /* HASHSET_NOFOLLOW | HASHSET_CHECK_ID */
	hashset_progress_fn progress;
	void *progress_arg;
};

void hashset_opts_init(struct hashset_opts *opts);

/* Hashes every item, filling in size and sha256. Only regular files are
 * hashed: anything else (a FIFO, a device, a directory) is an error and is
 * never read (opened with O_NONBLOCK, checked with fstat before any read). A
 * file whose size or modification time changes while it is read, or that
 * does not give exactly its size in bytes, is an error. On error the items'
 * outputs are unspecified and err_msg() names the file. opts may be NULL. */
int hashset_run(struct hashset_item *items, size_t n, const struct hashset_opts *opts);

/* SHA-256 and size of one open file, streamed, with the same checks when fd
 * is a regular file. name is for error messages. */
int hashset_fd(int fd, const char *name, uint8_t sha256[32], uint64_t *size);

/* The number of worker threads hashset_run() would start for n files. */
unsigned hashset_threads(const struct hashset_opts *opts, size_t n);

/* "hashing 3/12 files, 1.2 GiB of 4.0 GiB, 512.0 MiB/s, ETA 6 s" into buf
 * (always NUL-terminated); returns what snprintf returns. */
int hashset_progress_format(const struct hashset_progress *p, char *buf, size_t len);

/* A ready-made progress renderer: one line on fd, rewritten in place, only
 * when fd is a terminal (nothing at all otherwise), cleared at the end. Not
 * shown before HASHSET_TTY_DELAY_MS so that quick runs do not flicker. */
#define HASHSET_TTY_DELAY_MS 300
/*
 *	struct hashset_tty tty;
 *
 *	hashset_tty_init(&tty, STDERR_FILENO);
 *	opts.progress = hashset_tty_progress;
 *	opts.progress_arg = &tty;
 */
struct hashset_tty {
	int fd;
	int active; /* isatty(fd) */
	int shown;  /* a line is on the screen */
};

void hashset_tty_init(struct hashset_tty *t, int fd);
int hashset_tty_progress(const struct hashset_progress *p, void *arg); /* arg: hashset_tty */

#endif
