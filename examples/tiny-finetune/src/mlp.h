/* A multi-layer perceptron: L fully connected layers with ReLU between them
 * and raw logits out, float32. Its parameters are the safetensors tensors
 * "fc1.weight" [d1, d0], "fc1.bias" [d1], ..., "fcL.weight" [dL, dL-1],
 * "fcL.bias" [dL], weights in PyTorch's [out, in] order, so a file this
 * program writes loads into torch.nn.Linear layers as they are.
 *
 * The arithmetic is written so that its order is fixed: every sum runs over
 * its terms in index order, one row after another. */
#ifndef TF_MLP_H
#define TF_MLP_H

#include <stddef.h>
#include <stdint.h>

struct rng;
struct safetensors;
struct safetensors_meta;
struct tferr;

#define MLP_MAX_LAYERS 8
#define MLP_MAX_WIDTH  4096

struct mlp {
	size_t n_layers;
	size_t dims[MLP_MAX_LAYERS + 1]; /* dims[0] inputs ... dims[n_layers] outputs */
	size_t n_params;
	float *params;                /* fc1.weight, fc1.bias, fc2.weight, ... */
	size_t w_off[MLP_MAX_LAYERS]; /* offsets of each weight and bias in params */
	size_t b_off[MLP_MAX_LAYERS];
	float *wt; /* each weight transposed, [in, out], kept by mlp_sync() */
};

/* An MLP of the given widths (n_layers + 1 of them), parameters zero. */
int mlp_new(size_t n_layers, const size_t *dims, struct mlp **ret, struct tferr *e);

/* PyTorch's default initialisation of nn.Linear: weights and biases uniform
 * in [-1/sqrt(in), 1/sqrt(in)), drawn from g in parameter order. */
void mlp_init(struct mlp *m, struct rng *g);

/* The MLP whose layers are the tensors of st, which must be exactly fc1 ...
 * fcL, F32, with chained shapes. */
int mlp_from_safetensors(const struct safetensors *st, struct mlp **ret, struct tferr *e);

/* Writes the parameters as safetensors to path, with the metadata. */
int mlp_save(const struct mlp *m, const char *path, const struct safetensors_meta *meta,
	     size_t n_meta, struct tferr *e);

void mlp_free(struct mlp *m);

/* Refreshes the transposed weights after params changed. */
void mlp_sync(struct mlp *m);

/* Number of weights (biases excluded): the multiply-adds of one forward row. */
uint64_t mlp_weights(const struct mlp *m);

/* Matrix-multiply floating-point operations for one row (2 per multiply-add):
 * forward: 2 * weights; a training step's forward and backward: forward,
 * plus 2 * weights for the weight gradients, plus 2 * weights of layers 2..L
 * for the input gradients (layer 1's input gradient is not computed). */
uint64_t mlp_flops_forward(const struct mlp *m);
uint64_t mlp_flops_train(const struct mlp *m);

/* Activations for rows rows: act[0] holds the inputs (rows x dims[0]);
 * mlp_forward fills act[l] (rows x dims[l]) for l = 1..L with each layer's
 * ReLU output and, for l = L, the logits. */
void mlp_forward(const struct mlp *m, size_t rows, float *const *act);

/* Given act from mlp_forward and the loss gradient over the logits in
 * delta[L] (rows x dims[L]), adds the parameter gradients to grad (laid out
 * as params) and uses delta[1..L-1] (rows x dims[l]) as scratch. */
void mlp_backward(const struct mlp *m, size_t rows, float *const *act, float *const *delta,
		  float *grad);

#endif
