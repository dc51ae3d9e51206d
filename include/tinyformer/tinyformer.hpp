// tinyformer/tinyformer.hpp: the whole library in one include.
#pragma once

#include "error.hpp"        // tinyformer::error and the errors derived from it
#include "tensor.hpp"       // tinyformer::fixed, tinyformer::dynamic
#include "config.hpp"       // tinyformer::Config, parameter_count, train_flops_per_token
#include "random.hpp"       // tinyformer::rng
#include "gemm.hpp"         // tinyformer::gemm, the one matrix product
#include "transformer.hpp"  // tinyformer::Transformer<Config>
#include "vocabulary.hpp"   // tinyformer::vocabulary: characters <-> token ids
#include "text_data.hpp"    // tinyformer::text_data: a training text and its windows
#include "optimizer.hpp"    // tinyformer::adamw, tinyformer::sgd
#include "schedule.hpp"     // tinyformer::lr_schedule
#include "parallel.hpp"     // tinyformer::parallel_gradients
#include "train.hpp"        // tinyformer::parallel_train
#include "sampling.hpp"     // tinyformer::sampler: greedy, temperature, top-k, top-p
#include "generate.hpp"     // tinyformer::kv_cache, tinyformer::generate
#include "model_file.hpp"   // tinyformer::save_model_file, load_model_file
