/* A classification dataset: rows of float features and an integer label,
 * read from and written to CSV.
 *
 * The CSV is strict: a header line naming the feature columns and, last,
 * "label"; then one line per row with the same number of comma-separated
 * fields, each feature a finite decimal number (digits, sign, point and
 * exponent only, read by strtod in the C locale) and the label an integer in
 * [0, 1000) without leading zeros. Lines end with "\n" (or "\r\n"); the last
 * one may lack it; empty lines are errors. Errors name file:line:column and
 * the field. */
#ifndef TF_DATASET_H
#define TF_DATASET_H

#include <stddef.h>
#include <stdint.h>

struct tferr;

#define DATASET_MAX_FILE    (64u << 20)
#define DATASET_MAX_COLS    1024
#define DATASET_MAX_ROWS    1000000
#define DATASET_MAX_CLASSES 1000

struct dataset {
	size_t rows;
	size_t cols;      /* features per row */
	float *x;         /* rows * cols, row-major */
	uint32_t *y;      /* rows labels */
	uint32_t classes; /* 1 + the largest label */
};

/* An empty dataset with room for rows of cols features, to be filled by the
 * caller. */
int dataset_new(size_t rows, size_t cols, struct dataset **ret, struct tferr *e);

/* Parses the CSV text (len bytes; NUL bytes in it are errors). name is for
 * messages. */
int dataset_parse_csv(const char *text, size_t len, const char *name, struct dataset **ret,
		      struct tferr *e);

/* Reads and parses the CSV file at path (at most DATASET_MAX_FILE bytes). */
int dataset_load_csv(const char *path, struct dataset **ret, struct tferr *e);

/* Writes the header "x0,...,x{cols-1},label" and each feature with "%.*f"
 * of the given number of decimals. */
int dataset_save_csv(const char *path, const struct dataset *ds, int decimals, struct tferr *e);

void dataset_free(struct dataset *ds);

#endif
