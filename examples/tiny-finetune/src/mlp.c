/* A multi-layer perceptron with a fixed order of arithmetic: see mlp.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "rng.h"
#include "safetensors.h"
#include "tferr.h"

int mlp_new(size_t n_layers, const size_t *dims, struct mlp **ret, struct tferr *e)
{
	struct mlp *m;
	size_t n = 0;

	if (n_layers < 1 || n_layers > MLP_MAX_LAYERS)
		return tferr_set(e, TFERR_SHAPE, "%zu layers, expected 1 to %d", n_layers,
				 MLP_MAX_LAYERS);
	for (size_t l = 0; l <= n_layers; l++)
		if (dims[l] < 1 || dims[l] > MLP_MAX_WIDTH)
			return tferr_set(e, TFERR_SHAPE, "layer width %zu, expected 1 to %d",
					 dims[l], MLP_MAX_WIDTH);
	m = calloc(1, sizeof(*m));
	if (!m)
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	m->n_layers = n_layers;
	memcpy(m->dims, dims, (n_layers + 1) * sizeof(*dims));
	for (size_t l = 0; l < n_layers; l++) {
		m->w_off[l] = n;
		n += dims[l] * dims[l + 1];
		m->b_off[l] = n;
		n += dims[l + 1];
	}
	m->n_params = n;
	m->params = calloc(n, sizeof(*m->params));
	m->wt = calloc(n, sizeof(*m->wt));
	if (!m->params || !m->wt) {
		mlp_free(m);
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	}
	*ret = m;
	return 0;
}

void mlp_free(struct mlp *m)
{
	if (!m)
		return;
	free(m->params);
	free(m->wt);
	free(m);
}

void mlp_init(struct mlp *m, struct rng *g)
{
	for (size_t l = 0; l < m->n_layers; l++) {
		float bound = (float)(1.0 / sqrt((double)m->dims[l]));
		size_t n = m->dims[l] * m->dims[l + 1] + m->dims[l + 1];
		float *p = m->params + m->w_off[l];

		for (size_t i = 0; i < n; i++)
			p[i] = (float)((2.0 * rng_uniform(g) - 1.0) * bound);
	}
	mlp_sync(m);
}

void mlp_sync(struct mlp *m)
{
	for (size_t l = 0; l < m->n_layers; l++) {
		size_t in = m->dims[l], out = m->dims[l + 1];
		const float *w = m->params + m->w_off[l];
		float *wt = m->wt + m->w_off[l];

		for (size_t o = 0; o < out; o++)
			for (size_t i = 0; i < in; i++)
				wt[i * out + o] = w[o * in + i];
	}
}

uint64_t mlp_weights(const struct mlp *m)
{
	uint64_t n = 0;

	for (size_t l = 0; l < m->n_layers; l++)
		n += (uint64_t)m->dims[l] * m->dims[l + 1];
	return n;
}

uint64_t mlp_flops_forward(const struct mlp *m)
{
	return 2 * mlp_weights(m);
}

uint64_t mlp_flops_train(const struct mlp *m)
{
	return 6 * mlp_weights(m) - 2 * (uint64_t)m->dims[0] * m->dims[1];
}

static void tensor_name(char *buf, size_t len, size_t layer, const char *what)
{
	snprintf(buf, len, "fc%zu.%s", layer + 1, what);
}

/* The tensor fc{l+1}.{what}: F32, 2-D [out, in] for a weight, 1-D for a
 * bias. Sets *t, or NULL with an error. */
static int find_layer_tensor(const struct safetensors *st, size_t l, const char *what,
			     const struct safetensors_tensor **t, struct tferr *e)
{
	char name[32];
	size_t ndim = strcmp(what, "weight") == 0 ? 2 : 1;

	tensor_name(name, sizeof(name), l, what);
	*t = safetensors_find(st, name);
	if (!*t)
		return tferr_set(e, TFERR_SHAPE, "no tensor \"%s\"", name);
	if (strcmp((*t)->dtype, "F32") != 0)
		return tferr_set(e, TFERR_SHAPE, "tensor \"%s\" is %s, expected F32", name,
				 (*t)->dtype);
	if ((*t)->ndim != ndim)
		return tferr_set(e, TFERR_SHAPE, "tensor \"%s\" has %zu dimensions, expected %zu",
				 name, (*t)->ndim, ndim);
	for (size_t d = 0; d < ndim; d++)
		if ((*t)->shape[d] < 1 || (*t)->shape[d] > MLP_MAX_WIDTH)
			return tferr_set(e, TFERR_SHAPE,
					 "tensor \"%s\": dimension %llu, expected 1 "
					 "to %d",
					 name, (unsigned long long)(*t)->shape[d], MLP_MAX_WIDTH);
	return 0;
}

/* The widths of the layers in st; fc1.weight's [out, in] fixes the first two,
 * each next layer's in must equal the previous out. */
static int layer_dims(const struct safetensors *st, size_t *n_layers, size_t *dims, struct tferr *e)
{
	const struct safetensors_tensor *w, *b;
	size_t l;
	int r;

	if (st->n_tensors % 2 != 0 || st->n_tensors == 0 || st->n_tensors > 2 * MLP_MAX_LAYERS)
		return tferr_set(e, TFERR_SHAPE,
				 "%zu tensors, expected fc1.weight, fc1.bias, ... "
				 "for 1 to %d layers",
				 st->n_tensors, MLP_MAX_LAYERS);
	for (l = 0; l < st->n_tensors / 2; l++) {
		r = find_layer_tensor(st, l, "weight", &w, e);
		if (r == 0)
			r = find_layer_tensor(st, l, "bias", &b, e);
		if (r < 0)
			return r;
		if (l == 0)
			dims[0] = (size_t)w->shape[1];
		if (w->shape[1] != dims[l])
			return tferr_set(e, TFERR_SHAPE,
					 "tensor \"%s\" is [%llu, %llu], but the layer "
					 "before has %zu outputs",
					 w->name, (unsigned long long)w->shape[0],
					 (unsigned long long)w->shape[1], dims[l]);
		if (b->shape[0] != w->shape[0])
			return tferr_set(e, TFERR_SHAPE,
					 "tensor \"%s\" is [%llu], expected [%llu] as "
					 "the weight's outputs",
					 b->name, (unsigned long long)b->shape[0],
					 (unsigned long long)w->shape[0]);
		dims[l + 1] = (size_t)w->shape[0];
	}
	*n_layers = l;
	return 0;
}

int mlp_from_safetensors(const struct safetensors *st, struct mlp **ret, struct tferr *e)
{
	size_t dims[MLP_MAX_LAYERS + 1], n_layers = 0;
	const struct safetensors_tensor *t;
	struct mlp *m = NULL;
	int r;

	r = layer_dims(st, &n_layers, dims, e);
	if (r == 0)
		r = mlp_new(n_layers, dims, &m, e);
	if (r < 0)
		return r;
	for (size_t l = 0; l < n_layers; l++) {
		find_layer_tensor(st, l, "weight", &t, NULL);
		safetensors_read_f32(t, m->params + m->w_off[l]);
		find_layer_tensor(st, l, "bias", &t, NULL);
		safetensors_read_f32(t, m->params + m->b_off[l]);
	}
	for (size_t i = 0; i < m->n_params; i++) {
		if (!isfinite(m->params[i])) {
			mlp_free(m);
			return tferr_set(e, TFERR_SHAPE, "parameter %zu is not a finite number", i);
		}
	}
	mlp_sync(m);
	*ret = m;
	return 0;
}

int mlp_save(const struct mlp *m, const char *path, const struct safetensors_meta *meta,
	     size_t n_meta, struct tferr *e)
{
	struct safetensors_f32 t[2 * MLP_MAX_LAYERS];
	uint64_t shape[2 * MLP_MAX_LAYERS][2];
	char names[2 * MLP_MAX_LAYERS][32];

	for (size_t l = 0; l < m->n_layers; l++) {
		size_t w = 2 * l, b = 2 * l + 1;

		tensor_name(names[w], sizeof(names[w]), l, "weight");
		tensor_name(names[b], sizeof(names[b]), l, "bias");
		shape[w][0] = m->dims[l + 1];
		shape[w][1] = m->dims[l];
		shape[b][0] = m->dims[l + 1];
		t[w] = (struct safetensors_f32){names[w], 2, shape[w], m->params + m->w_off[l]};
		t[b] = (struct safetensors_f32){names[b], 1, shape[b], m->params + m->b_off[l]};
	}
	return safetensors_save(path, t, 2 * m->n_layers, meta, n_meta, e);
}

void mlp_forward(const struct mlp *m, size_t rows, float *const *act)
{
	for (size_t l = 0; l < m->n_layers; l++) {
		size_t in = m->dims[l], out = m->dims[l + 1];
		const float *wt = m->wt + m->w_off[l], *b = m->params + m->b_off[l];
		int relu = l + 1 < m->n_layers;

		for (size_t r = 0; r < rows; r++) {
			const float *x = act[l] + r * in;
			float *z = act[l + 1] + r * out;

			memcpy(z, b, out * sizeof(*z));
			for (size_t i = 0; i < in; i++) {
				const float a = x[i], *w = wt + i * out;

				for (size_t o = 0; o < out; o++)
					z[o] += a * w[o];
			}
			if (relu)
				for (size_t o = 0; o < out; o++)
					z[o] = z[o] > 0 ? z[o] : 0;
		}
	}
}

/* Layer l's gradients from its output gradient d (rows x out) and input x. */
static void layer_grad(const struct mlp *m, size_t l, size_t rows, const float *x, const float *d,
		       float *grad)
{
	size_t in = m->dims[l], out = m->dims[l + 1];
	float *gw = grad + m->w_off[l], *gb = grad + m->b_off[l];

	for (size_t r = 0; r < rows; r++) {
		const float *xr = x + r * in, *dr = d + r * out;

		for (size_t o = 0; o < out; o++) {
			const float g = dr[o];
			float *gwo = gw + o * in;

			for (size_t i = 0; i < in; i++)
				gwo[i] += g * xr[i];
			gb[o] += g;
		}
	}
}

/* The gradient at layer l's input, through the ReLU that made it, into dx. */
static void layer_input_grad(const struct mlp *m, size_t l, size_t rows, const float *x,
			     const float *d, float *dx)
{
	size_t in = m->dims[l], out = m->dims[l + 1];
	const float *w = m->params + m->w_off[l];

	for (size_t r = 0; r < rows; r++) {
		const float *xr = x + r * in, *dr = d + r * out;
		float *dxr = dx + r * in;

		memset(dxr, 0, in * sizeof(*dxr));
		for (size_t o = 0; o < out; o++) {
			const float g = dr[o], *wo = w + o * in;

			for (size_t i = 0; i < in; i++)
				dxr[i] += g * wo[i];
		}
		for (size_t i = 0; i < in; i++)
			dxr[i] = xr[i] > 0 ? dxr[i] : 0;
	}
}

void mlp_backward(const struct mlp *m, size_t rows, float *const *act, float *const *delta,
		  float *grad)
{
	for (size_t l = m->n_layers; l-- > 0;) {
		layer_grad(m, l, rows, act[l], delta[l + 1], grad);
		if (l > 0)
			layer_input_grad(m, l, rows, act[l], delta[l + 1], delta[l]);
	}
}
