/* The safetensors format (https://github.com/huggingface/safetensors):
 *
 *   u64 little-endian N | N bytes of JSON header | data section
 *
 * The header is one JSON object: for each tensor, "name": {"dtype": "F32",
 * "shape": [d0, d1, ...], "data_offsets": [begin, end]} with offsets relative
 * to the start of the data section, and optionally "__metadata__": {string:
 * string}. It may be padded with trailing spaces.
 *
 * The reader is strict, as the reference implementation is and a little
 * more: every size and offset is bounded; each tensor's byte range is exactly
 * its shape times its element size; the ranges, sorted, tile the data section
 * with no gap, no overlap and nothing after the last one; names are unique;
 * tensor entries have exactly the three keys; metadata values are strings.
 *
 * The writer makes F32 tensors in the order given, after the metadata, with
 * the header padded with spaces so that the data section starts at a
 * multiple of 8 bytes. */
#ifndef TF_SAFETENSORS_H
#define TF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

struct tferr;

#define SAFETENSORS_MAX_HEADER  (1u << 20) /* bytes of JSON header */
#define SAFETENSORS_MAX_FILE    (256u << 20)
#define SAFETENSORS_MAX_TENSORS 1024
#define SAFETENSORS_MAX_DIMS    8

struct safetensors_tensor {
	char *name;
	char dtype[8];    /* "F32", "I64", ... */
	size_t elem_size; /* bytes per element of dtype */
	size_t ndim;
	uint64_t shape[SAFETENSORS_MAX_DIMS];
	uint64_t count; /* number of elements: the product of shape */
	uint64_t begin; /* byte range in the data section */
	uint64_t end;
	const uint8_t *data; /* points into the parsed buffer */
};

struct safetensors_meta {
	char *key;
	char *value;
};

struct safetensors {
	uint8_t *owned;                     /* the file, when read by safetensors_load() */
	struct safetensors_tensor *tensors; /* in header order */
	size_t n_tensors;
	struct safetensors_meta *meta; /* in header order */
	size_t n_meta;
};

/* Parses buf (len bytes). The tensors' data point into buf, which must
 * outlive *ret. name is for messages (usually the file name). Free *ret with
 * safetensors_free(). */
int safetensors_parse(const uint8_t *buf, size_t len, const char *name, struct safetensors **ret,
		      struct tferr *e);

/* Reads and parses the file at path; *ret owns the bytes. */
int safetensors_load(const char *path, struct safetensors **ret, struct tferr *e);

void safetensors_free(struct safetensors *st);

/* The tensor with this name, or NULL. */
const struct safetensors_tensor *safetensors_find(const struct safetensors *st, const char *name);

/* The metadata value for key, or NULL. */
const char *safetensors_meta_get(const struct safetensors *st, const char *key);

/* Copies an F32 tensor's elements, decoded from little-endian, into out,
 * which has room for t->count floats. */
void safetensors_read_f32(const struct safetensors_tensor *t, float *out);

/* A tensor to write: F32, ndim dimensions. */
struct safetensors_f32 {
	const char *name;
	size_t ndim;
	const uint64_t *shape;
	const float *data;
};

/* Encodes the tensors, and the metadata (n_meta key/value pairs, may be 0),
 * into a malloc'd buffer. Names must be unique and not "__metadata__". */
int safetensors_encode(const struct safetensors_f32 *t, size_t n,
		       const struct safetensors_meta *meta, size_t n_meta, uint8_t **buf,
		       size_t *len, struct tferr *e);

/* safetensors_encode() into the file at path, replaced atomically. */
int safetensors_save(const char *path, const struct safetensors_f32 *t, size_t n,
		     const struct safetensors_meta *meta, size_t n_meta, struct tferr *e);

#endif
