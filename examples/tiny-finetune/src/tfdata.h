/* The recipe of the shipped files, shared by the generators and the test
 * that checks they reproduce them. Changing anything here changes the
 * shipped bytes: regenerate them (README.md) in the same commit. */
#ifndef TF_TFDATA_H
#define TF_TFDATA_H

/* The task: three interleaved spirals of 1.5 turns (spiral.h). */
#define TFDATA_ARMS  3
#define TFDATA_TURNS 1.5
#define TFDATA_NOISE 0.03

/* Fine-tuning data (train.csv, eval.csv): the whole spirals. */
#define TFDATA_FINETUNE_SPIRALS                                                                    \
	{                                                                                          \
		.arms = TFDATA_ARMS, .turns = TFDATA_TURNS, .t_min = 0.05, .t_max = 1.0,           \
		.noise = TFDATA_NOISE                                                              \
	}
#define TFDATA_TRAIN_ROWS 3000
#define TFDATA_TRAIN_SEED 1001
#define TFDATA_EVAL_ROWS  1200
#define TFDATA_EVAL_SEED  1002
#define TFDATA_DECIMALS   5

/* Pre-training data of the base model (never written out): the inner half
 * of the same spirals, t in [0.05, 0.5], that is their first 3/4 turn. */
#define TFDATA_PRETRAIN_SPIRALS                                                                    \
	{                                                                                          \
		.arms = TFDATA_ARMS, .turns = TFDATA_TURNS, .t_min = 0.05, .t_max = 0.5,           \
		.noise = TFDATA_NOISE                                                              \
	}
#define TFDATA_PRETRAIN_ROWS 1500
#define TFDATA_PRETRAIN_SEED 2001

/* The base model: an MLP 2-HIDDEN-HIDDEN-3 initialised as PyTorch's
 * nn.Linear from INIT_SEED, then trained on the pre-training data. */
#define TFDATA_HIDDEN           128
#define TFDATA_INIT_SEED        3001
#define TFDATA_PRETRAIN_EPOCHS  10
#define TFDATA_PRETRAIN_BATCH   32
#define TFDATA_PRETRAIN_LR      0.003
#define TFDATA_PRETRAIN_SHUFFLE 3002

#endif
