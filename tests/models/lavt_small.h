/*
** lavt_small: the small lavt_one model that test_lavt and test_lavt_random
** both write (input 40, window 3: padded windows and odd merges; 4 stages,
** BERT of 2 layers, 12 wide). LAVT_SMALL_YAML(V) is its model.yaml from
** `arch:` through BERT's layer_norm_eps, with bert.vocab_size V; each test
** puts its name before and its decoder / tokenizer / weights lines after.
*/
#ifndef RISQ_TESTS_MODELS_LAVT_SMALL_H
#define RISQ_TESTS_MODELS_LAVT_SMALL_H

#define LAVT_SMALL_YAML(vocab_size)              \
    "arch: lavt_one\n"                           \
    "input:\n"                                   \
    "  size: 40\n"                               \
    "  mean: [0.485, 0.456, 0.406]\n"            \
    "  std: [0.229, 0.224, 0.225]\n"             \
    "swin:\n"                                    \
    "  patch_size: 4\n"                          \
    "  embed_dim: 6\n"                           \
    "  depths: [2, 1, 2, 1]\n"                   \
    "  num_heads: [1, 2, 3, 4]\n"                \
    "  window_size: 3\n"                         \
    "  mlp_ratio: 2\n"                           \
    "fusion:\n"                                  \
    "  num_heads: [1, 2, 1, 2]\n"                \
    "bert:\n"                                    \
    "  vocab_size: " #vocab_size "\n"            \
    "  hidden_size: 12\n"                        \
    "  num_layers: 2\n"                          \
    "  num_heads: 3\n"                           \
    "  intermediate_size: 20\n"                  \
    "  max_position_embeddings: 16\n"            \
    "  type_vocab_size: 2\n"                     \
    "  layer_norm_eps: 1.0e-12\n"

#endif
