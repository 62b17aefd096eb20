/* Unit tests for the tiny-finetune example job (examples/tiny-finetune):
 * its safetensors reader and writer, its CSV reader and its deterministic
 * elementary functions, through the library; and the job itself, through the
 * built program on the shipped files: training lowers the loss and raises
 * the accuracy, two runs give the same bytes whatever the thread count, the
 * output has the base's tensors, bad inputs fail with a message, and the
 * generators reproduce the shipped files byte for byte.
 *
 * safetensors inputs are built here by hand (length, JSON text, data), so
 * that the reader is checked against the format, not against the writer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "dataset.h"
#include "fmath.h"
#include "mlp.h"
#include "safetensors.h"
#include "tferr.h"

#define EX TF_EXAMPLE_DIR

/* Short runs: 8 epochs at a higher learning rate take well under a second
 * (several under the sanitizers); the determinism runs take 2. */
#define SHORT_EPOCHS "8"
#define DET_EPOCHS   "2"
#define SHORT_LR     "0.01"

extern char **environ;

static char tmpdir[] = "/tmp/test_tiny_finetune.XXXXXX";

/* ---- helpers ---- */

static char *tmp_path(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
	write_file(path, text, strlen(text));
}

static void assert_same_file(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *x = read_file(a, &la), *y = read_file(b, &lb);

	if (la != lb || memcmp(x, y, la) != 0)
		fail_msg("%s and %s differ", a, b);
	free(x);
	free(y);
}

/* Runs argv with stdout and stderr into files of tmpdir; returns the exit
 * status and, in *err (malloc'd), what it wrote to stderr. */
static int run(const char *const *argv, char **err)
{
	posix_spawn_file_actions_t fa;
	char *out_path = tmp_path("stdout.txt"), *err_path = tmp_path("stderr.txt");
	size_t len;
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (err)
		*err = (char *)read_file(err_path, &len);
	free(out_path);
	free(err_path);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Trains into tmpdir/out for the given epochs; NULL arguments take the
 * shipped file or the default. Returns the exit status, stderr in *err if err
 * is not NULL. */
static int train_epochs(const char *out, const char *base, const char *data, const char *threads,
			const char *epochs, char **err)
{
	char *out_path = tmp_path(out);
	const char *argv[] = {TF_TRAIN_BIN,
			      "--base",
			      base ? base : EX "/base.safetensors",
			      "--data",
			      data ? data : EX "/train.csv",
			      "--eval",
			      EX "/eval.csv",
			      "--out",
			      out_path,
			      "--epochs",
			      epochs,
			      "--lr",
			      SHORT_LR,
			      "--threads",
			      threads ? threads : "1",
			      NULL};
	int r = run(argv, err);

	free(out_path);
	return r;
}

/* A safetensors file by hand: u64le(len of json, or hlen if not 0), the
 * JSON text, then data_len bytes counting up. */
static uint8_t *st_bytes(const char *json, uint64_t hlen, size_t data_len, size_t *len)
{
	size_t jl = strlen(json);
	uint8_t *b = malloc(8 + jl + data_len + 1);

	assert_non_null(b);
	if (hlen == 0)
		hlen = jl;
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(hlen >> (8 * i));
	memcpy(b + 8, json, jl);
	for (size_t i = 0; i < data_len; i++)
		b[8 + jl + i] = (uint8_t)i;
	*len = 8 + jl + data_len;
	return b;
}

static int st_parse_json(const char *json, size_t data_len, struct tferr *e)
{
	struct safetensors *st = NULL;
	size_t len;
	uint8_t *b = st_bytes(json, 0, data_len, &len);
	int r = safetensors_parse(b, len, "t.safetensors", &st, e);

	safetensors_free(st);
	free(b);
	return r;
}

static int train(const char *out, const char *base, const char *data, const char *threads,
		 char **err)
{
	return train_epochs(out, base, data, threads, SHORT_EPOCHS, err);
}

/* The reference short run, into tmpdir/learn, made once for the tests that
 * look at its outputs. */
static void learn(void)
{
	static int done;

	if (!done)
		assert_int_equal(train("learn", NULL, NULL, NULL, NULL), 0);
	done = 1;
}

static json_t *load_json(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

	if (!j)
		fail_msg("%s:%d: %s", path, je.line, je.text);
	return j;
}

static double jnum(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	if (!json_is_number(v))
		fail_msg("metrics.json: no number at %s%s%s", a, b ? "." : "", b ? b : "");
	return json_number_value(v);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int group_setup(void **state)
{
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- deterministic elementary functions ---- */

static void fmath_matches_libm(void **state)
{
	for (int i = -2000; i <= 2000; i++) {
		double x = i * 0.3517, s, c;

		if (fabs(x) < 700)
			assert_true(fabs(fmath_exp(x) - exp(x)) <= 4e-16 * exp(x));
		if (x > 0)
			assert_true(fabs(fmath_log(x) - log(x)) <= 4e-16 * fabs(log(x)) + 1e-17);
		fmath_sincos(x, &s, &c);
		assert_true(fabs(s - sin(x)) <= 1e-15);
		assert_true(fabs(c - cos(x)) <= 1e-15);
	}
	assert_true(fmath_exp(1000) == INFINITY);
	assert_true(fmath_exp(-1000) == 0);
	assert_true(fmath_log(0) == -INFINITY);
	assert_true(isnan(fmath_log(-1)));
	assert_true(fmath_log(1) == 0);
	assert_true(fmath_exp(0) == 1);
}

/* ---- safetensors ---- */

static void safetensors_encode_parse_round_trip(void **state)
{
	const float a[6] = {1, -2, 3.5f, 0, -0.0f, 1e-30f}, b[1] = {42};
	const uint64_t sa[2] = {2, 3}, sb[1] = {1};
	const struct safetensors_f32 t[2] = {{"w", 2, sa, a}, {"b\"q", 1, sb, b}};
	const struct safetensors_meta meta[1] = {{"format", "pt"}};
	struct safetensors *st = NULL;
	struct tferr e = {{0}};
	float got[6];
	uint8_t *buf;
	size_t len;

	assert_int_equal(safetensors_encode(t, 2, meta, 1, &buf, &len, &e), 0);
	/* 8-byte aligned data section, 28 bytes of it at the end */
	assert_int_equal((8 + (buf[0] | buf[1] << 8)) % 8, 0);
	assert_int_equal(len, 8 + (buf[0] | buf[1] << 8) + 28);
	assert_int_equal(safetensors_parse(buf, len, "rt", &st, &e), 0);
	assert_int_equal(st->n_tensors, 2);
	assert_string_equal(st->tensors[1].name, "b\"q");
	assert_string_equal(safetensors_meta_get(st, "format"), "pt");
	assert_int_equal(st->tensors[0].ndim, 2);
	assert_int_equal(st->tensors[0].shape[1], 3);
	safetensors_read_f32(&st->tensors[0], got);
	assert_memory_equal(got, a, sizeof(a));
	safetensors_free(st);
	free(buf);
}

static void safetensors_accepts_the_reference_layout(void **state)
{
	/* Metadata anywhere, keys in any order, spaces as padding, a scalar and
	 * an empty tensor, tensors not in data order. */
	const char *json = "{\"b\":{\"shape\":[],\"dtype\":\"I64\",\"data_offsets\":[8,16]},"
			   "\"__metadata__\":{\"k\":\"v\\u00e9\\ud83d\\ude00\"},"
			   "\"a\":{\"dtype\":\"U8\",\"shape\":[2,4],\"data_offsets\":[0,8]},"
			   "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[16,16]}}   ";
	struct safetensors *st = NULL;
	struct tferr e = {{0}};
	size_t len;
	uint8_t *b = st_bytes(json, 0, 16, &len);

	assert_int_equal(safetensors_parse(b, len, "ref", &st, &e), 0);
	assert_int_equal(st->n_tensors, 3);
	assert_int_equal(safetensors_find(st, "b")->count, 1);
	assert_int_equal(safetensors_find(st, "e")->count, 0);
	assert_ptr_equal(safetensors_find(st, "b")->data, b + len - 8);
	assert_string_equal(safetensors_meta_get(st, "k"), "v\xc3\xa9\xf0\x9f\x98\x80");
	safetensors_free(st);
	free(b);
	assert_int_equal(st_parse_json("{}", 0, &e), 0);
}

static void safetensors_rejects_inconsistent_headers(void **state)
{
#define T(name, extra) "\"" name "\":{\"dtype\":\"F32\",\"shape\":[2]," extra "}"
	static const struct {
		const char *json;
		size_t data_len;
		const char *msg;
	} cases[] = {
		{"{" T("a", "\"data_offsets\":[0,8]") "," T("b", "\"data_offsets\":[4,12]") "}", 12,
		 "overlap tensor \"a\""},
		{"{" T("a", "\"data_offsets\":[0,8]") "," T("b", "\"data_offsets\":[12,20]") "}",
		 20, "bytes [8, 12) of the data section belong to no tensor"},
		{"{" T("a", "\"data_offsets\":[0,8]") "}", 9, "1 bytes of trailing data"},
		{"{" T("a", "\"data_offsets\":[0,8]") "}", 4, "out of range"},
		{"{" T("a", "\"data_offsets\":[0,12]") "}", 12, "hold 12 bytes, but 2 elements"},
		{"{" T("a", "\"data_offsets\":[8,0]") "}", 8, "out of range"},
		{"{" T("a", "\"data_offsets\":[0,8]") "," T("a", "\"data_offsets\":[8,16]") "}", 16,
		 "duplicate tensor \"a\""},
		{"{" T("a", "\"data_offsets\":[0,8],\"extra\":1") "}", 8, "unknown key \"extra\""},
		{"{" T("a", "\"data_offsets\":[0,8],\"shape\":[2]") "}", 8,
		 "duplicate key \"shape\""},
		{"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing shape"},
		{"{\"a\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		 "unknown dtype \"F31\""},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8,
		 "leading zero"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
		 "expected a non-negative integer"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
		 "fraction"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
		 4, "more than 8 dimensions"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536],\"data_offsets\":[0,4]}}", 4,
		 "more than"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}",
		 8, "integer larger than"},
		{"{\"__metadata__\":{\"k\":1}}", 0, "value of \"k\" is not a string"},
		{"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate \"__metadata__\""},
		{"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "duplicate key \"k\""},
		{" {}", 0, "does not start with '{'"},
		{"{}x", 0, "expected the end, found 'x'"},
		{"{\"a\":1}", 0, "'{' opening a tensor entry"},
		{"{\"a\xff\":{}}", 0, "invalid UTF-8"},
		{"{\"a\xc0\xae\":{}}", 0, "invalid UTF-8"},
		{"{\"\\ud800\":{}}", 0, "unpaired surrogate"},
		{"{\"\\u0000\":{}}", 0, "\\u0000"},
		{"{\"a\n\":{}}", 0, "control character"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", 8, "',' or '}'"},
		{"{\"a", 0, "unterminated string"},
	};
#undef T
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tferr e = {{0}};
		int r;

		r = st_parse_json(cases[i].json, cases[i].data_len, &e);
		if (r >= 0 || !strstr(e.msg, cases[i].msg))
			fail_msg("case %zu (%s): r=%d, message \"%s\", expected \"%s\"", i,
				 cases[i].json, r, e.msg, cases[i].msg);
		assert_non_null(strstr(e.msg, "t.safetensors"));
	}
}

static void safetensors_rejects_bad_lengths(void **state)
{
	struct safetensors *st = NULL;
	struct tferr e = {{0}};
	uint8_t *b;
	size_t len;

	b = st_bytes("{}", 0, 0, &len);
	assert_int_equal(safetensors_parse(b, 7, "s", &st, &e), TFERR_FORMAT);
	assert_non_null(strstr(e.msg, "too short"));
	assert_int_equal(safetensors_parse(b, len - 1, "s", &st, &e), TFERR_FORMAT);
	assert_non_null(strstr(e.msg, "header length 2 goes beyond the end of the file"));
	free(b);
	b = st_bytes("{}", UINT64_MAX, 0, &len);
	assert_int_equal(safetensors_parse(b, len, "s", &st, &e), TFERR_FORMAT);
	assert_non_null(strstr(e.msg, "more than the limit"));
	free(b);
	b = st_bytes("{}", 1000, 0, &len);
	assert_int_equal(safetensors_parse(b, len, "s", &st, &e), TFERR_FORMAT);
	assert_non_null(strstr(e.msg, "goes beyond the end"));
	free(b);
	assert_null(st);
}

/* ---- CSV ---- */

static void dataset_reads_csv(void **state)
{
	const char text[] = "a,b,label\r\n1.5,-2e-1,0\r\n3,4,2";
	char *path = tmp_path("ok.csv");
	struct dataset *ds = NULL;
	struct tferr e = {{0}};

	write_text(path, text);
	assert_int_equal(dataset_load_csv(path, &ds, &e), 0);
	assert_int_equal(ds->rows, 2);
	assert_int_equal(ds->cols, 2);
	assert_int_equal(ds->classes, 3);
	assert_true(ds->x[1] == -0.2f);
	assert_int_equal(ds->y[1], 2);
	dataset_free(ds);
	free(path);
}

static void dataset_rejects_bad_csv(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{"x0,x1,label\n0.5,0.25,1\n0.5,abc,1\n",
		 "bad.csv:3:5: field 2: expected a finite number, found \"abc\""},
		{"x0,x1,label\n0.5,,1\n", "bad.csv:2:5: field 2: expected a finite number"},
		{"x0,x1,label\n0.5, 1,1\n", "bad.csv:2:5: field 2"},
		{"x0,x1,label\n0.5,nan,1\n", "bad.csv:2:5: field 2"},
		{"x0,x1,label\n0.5,0x1p3,1\n", "bad.csv:2:5: field 2"},
		{"x0,x1,label\n0.5,1-,1\n", "bad.csv:2:5: field 2"},
		{"x0,x1,label\n0.5,1e999,1\n", "bad.csv:2:5: field 2"},
		{"x0,x1,label\n0.5,1,1.0\n", "bad.csv:2:7: field 3 (label)"},
		{"x0,x1,label\n0.5,1,-1\n", "bad.csv:2:7: field 3 (label)"},
		{"x0,x1,label\n0.5,1,1000\n", "field 3 (label): expected an integer in [0, 1000)"},
		{"x0,x1,label\n0.5,1\n", "bad.csv:2: 2 fields, expected 3"},
		{"x0,x1,label\n0.5,1,1,2\n", "bad.csv:2: more than 3 fields"},
		{"x0,x1,label\n0.5,1,1\n\n0.5,1,1\n", "bad.csv:3: empty line"},
		{"x0,x1,y\n", "the last column is \"y\", expected \"label\""},
		{"label\n1\n", "no feature column"},
		{"x0,,label\n", "bad.csv:1:4: empty column name"},
		{"x0,label\n", "0 data lines"},
		{"", "empty file"},
		{"x0,label\n1\0,1\n", "NUL byte"},
	};
	char *path = tmp_path("bad.csv");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dataset *ds = NULL;
		struct tferr e = {{0}};
		size_t len = strlen(cases[i].text);
		int r;

		if (strstr(cases[i].msg, "NUL"))
			len = 14; /* "x0,label\n" and "1\0,1\n" */
		write_file(path, cases[i].text, len);
		r = dataset_load_csv(path, &ds, &e);
		if (r >= 0 || !strstr(e.msg, cases[i].msg))
			fail_msg("case %zu: r=%d, message \"%s\", expected \"%s\"", i, r, e.msg,
				 cases[i].msg);
		assert_null(ds);
	}
	free(path);
}

/* ---- the job ---- */

static void finetune_lowers_loss_and_raises_accuracy(void **state)
{
	char *metrics = tmp_path("learn/metrics.json");
	json_t *m;
	double steps, samples, evals;

	learn();
	m = load_json(metrics);
	assert_true(jnum(m, "train", "loss_after") < jnum(m, "train", "loss_before") / 10);
	assert_true(jnum(m, "eval", "loss_after") < jnum(m, "eval", "loss_before") / 10);
	assert_true(jnum(m, "eval", "accuracy_before") < 0.5);
	assert_true(jnum(m, "eval", "accuracy_after") > 0.9);
	assert_true(jnum(m, "train", "accuracy_after") > 0.9);
	/* 3000 rows in batches of 32: 94 steps an epoch. */
	steps = jnum(m, "steps", NULL);
	samples = jnum(m, "samples", NULL);
	assert_true(steps == 8 * 94);
	assert_true(samples == 8 * 3000);
	/* 2-128-128-3: 17024 weights; 6 * 17024 - 2 * (2 * 128) per training
	 * row, 2 * 17024 per evaluated row: the train set twice (before and
	 * after), the eval set before and after each epoch. */
	assert_true(jnum(m, "model", "parameters") == 17283);
	assert_true(jnum(m, "flos_per_train_sample", NULL) == 101632);
	assert_true(jnum(m, "train_flos", NULL) == samples * 101632);
	evals = 2 * 3000 + 9 * 1200;
	assert_true(jnum(m, "eval_flos", NULL) == evals * 34048);
	assert_true(jnum(m, "total_flos", NULL) ==
		    jnum(m, "train_flos", NULL) + jnum(m, "eval_flos", NULL));
	json_decref(m);
	free(metrics);
}

static void finetune_is_deterministic_for_any_thread_count(void **state)
{
	static const char *const runs[][2] = {
		{"det1", "1"}, {"det2", "1"}, {"det3", "3"}, {"det4", "4"}};

	for (size_t i = 0; i < 4; i++)
		assert_int_equal(train_epochs(runs[i][0], NULL, NULL, runs[i][1], DET_EPOCHS, NULL),
				 0);
	for (size_t i = 1; i < 4; i++) {
		static const char *const files[] = {"model.safetensors", "metrics.json"};

		for (size_t f = 0; f < 2; f++) {
			char *a, *b;

			assert_true(asprintf(&a, "%s/%s/%s", tmpdir, runs[0][0], files[f]) > 0);
			assert_true(asprintf(&b, "%s/%s/%s", tmpdir, runs[i][0], files[f]) > 0);
			assert_same_file(a, b);
			free(a);
			free(b);
		}
	}
}

static void finetune_writes_the_base_tensors(void **state)
{
	char *path = tmp_path("learn/model.safetensors");
	struct safetensors *base = NULL, *out = NULL;
	struct tferr e = {{0}};
	struct mlp *m = NULL;
	int changed = 0;

	learn();
	assert_int_equal(safetensors_load(EX "/base.safetensors", &base, &e), 0);
	assert_int_equal(safetensors_load(path, &out, &e), 0);
	assert_int_equal(out->n_tensors, base->n_tensors);
	for (size_t i = 0; i < base->n_tensors; i++) {
		const struct safetensors_tensor *b = &base->tensors[i];
		const struct safetensors_tensor *o = safetensors_find(out, b->name);

		assert_non_null(o);
		assert_string_equal(o->dtype, "F32");
		assert_int_equal(o->ndim, b->ndim);
		assert_memory_equal(o->shape, b->shape, b->ndim * sizeof(b->shape[0]));
		changed += memcmp(o->data, b->data, b->count * 4) != 0;
	}
	assert_int_equal(changed, (int)base->n_tensors);
	assert_string_equal(safetensors_meta_get(out, "format"), "pt");
	assert_string_equal(safetensors_meta_get(out, "epochs"), SHORT_EPOCHS);
	assert_int_equal(mlp_from_safetensors(out, &m, &e), 0);
	assert_int_equal(m->n_params, 17283);
	mlp_free(m);
	safetensors_free(base);
	safetensors_free(out);
	free(path);
}

/* The program exits with status 1 and names the problem. */
static void expect_failure(const char *base, const char *data, const char *msg)
{
	char *err = NULL;
	int r = train("fail", base, data, NULL, &err);

	if (r != 1 || !strstr(err, msg))
		fail_msg("exit %d, stderr \"%s\", expected status 1 and \"%s\"", r, err, msg);
	assert_non_null(strstr(err, "tiny_finetune_train: "));
	free(err);
}

static void finetune_rejects_bad_inputs(void **state)
{
	char *p = tmp_path("in.safetensors"), *c = tmp_path("in.csv");
	uint8_t *base, *b;
	size_t len, n;
	const char *overlap =
		"{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";

	expect_failure(EX "/nonexistent.safetensors", NULL, "nonexistent.safetensors: cannot open");
	expect_failure(NULL, EX "/nonexistent.csv", "nonexistent.csv: cannot open");
	base = read_file(EX "/base.safetensors", &len);
	write_file(p, base, len / 2);
	expect_failure(p, NULL, "out of range");
	write_file(p, base, 5);
	expect_failure(p, NULL, "too short");
	b = st_bytes("{}", 4096, 0, &n);
	write_file(p, b, n);
	free(b);
	expect_failure(p, NULL, "header length 4096 goes beyond the end of the file");
	b = st_bytes(overlap, 0, 12, &n);
	write_file(p, b, n);
	free(b);
	expect_failure(p, NULL,
		       "tensor \"fc1.bias\": data_offsets [4, 12] overlap tensor "
		       "\"fc1.weight\" [0, 8]");
	free(base);

	write_text(c, "x0,x1,label\n0.1,0.2,0\n0.3,O.4,1\n");
	expect_failure(NULL, c, "in.csv:3:5: field 2: expected a finite number, found \"O.4\"");
	write_text(c, "x0,x1,x2,label\n0.1,0.2,0.3,0\n");
	expect_failure(NULL, c,
		       "in.csv has 3 features, but the model (fc1.weight [128, 2]) takes 2");
	write_text(c, "x0,x1,label\n0.1,0.2,7\n");
	expect_failure(NULL, c, "in.csv has label 7, but the model (fc3.weight) has 3 outputs");
	free(p);
	free(c);
}

static void finetune_rejects_bad_arguments(void **state)
{
	static const char *const bad[][3] = {
		{"--threads", "5", "--threads: expected an integer from 1 to 4"},
		{"--epochs", "-1", "--epochs: expected an integer"},
		{"--lr", "0", "--lr: expected a number in (0, 1]"},
		{"--batch", "0", "--batch: expected an integer from 1"},
		{"--seed", "x", "--seed: expected an integer"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = {TF_TRAIN_BIN, "--base", "b",       "--data",  "d",
				      "--out",      "o",      bad[i][0], bad[i][1], NULL};
		char *err = NULL;

		assert_int_equal(run(argv, &err), 2);
		if (!strstr(err, bad[i][2]))
			fail_msg("stderr \"%s\", expected \"%s\"", err, bad[i][2]);
		free(err);
	}
	{
		const char *argv[] = {TF_TRAIN_BIN, "--base", "b", NULL};
		char *err = NULL;

		assert_int_equal(run(argv, &err), 2);
		assert_non_null(strstr(err, "--base, --data and --out are required"));
		free(err);
	}
}

static void shipped_files_are_what_the_generators_make(void **state)
{
	char *dir = tmp_path("gen");
	char *base = tmp_path("gen/base.safetensors");
	const char *data_argv[] = {TF_MAKE_DATA_BIN, dir, NULL};
	const char *base_argv[] = {TF_MAKE_BASE_BIN, base, NULL};
	static const char *const files[] = {"train.csv", "eval.csv", "base.safetensors"};

	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(run(data_argv, NULL), 0);
	assert_int_equal(run(base_argv, NULL), 0);
	for (size_t i = 0; i < 3; i++) {
		char *a, *b;

		assert_true(asprintf(&a, "%s/%s", EX, files[i]) > 0);
		assert_true(asprintf(&b, "%s/%s", dir, files[i]) > 0);
		assert_same_file(a, b);
		free(a);
		free(b);
	}
	free(base);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fmath_matches_libm),
		cmocka_unit_test(safetensors_encode_parse_round_trip),
		cmocka_unit_test(safetensors_accepts_the_reference_layout),
		cmocka_unit_test(safetensors_rejects_inconsistent_headers),
		cmocka_unit_test(safetensors_rejects_bad_lengths),
		cmocka_unit_test(dataset_reads_csv),
		cmocka_unit_test(dataset_rejects_bad_csv),
		cmocka_unit_test(finetune_lowers_loss_and_raises_accuracy),
		cmocka_unit_test(finetune_is_deterministic_for_any_thread_count),
		cmocka_unit_test(finetune_writes_the_base_tensors),
		cmocka_unit_test(finetune_rejects_bad_inputs),
		cmocka_unit_test(finetune_rejects_bad_arguments),
		cmocka_unit_test(shipped_files_are_what_the_generators_make),
	};

	return cmocka_run_group_tests_name("tiny_finetune", tests, group_setup, group_teardown);
}
