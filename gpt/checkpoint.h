// gpt/checkpoint.h — a GPT as a Hugging Face compatible model directory.
//
//   DIR/config.json        OpenAIGPTConfig fields (vocab_size, n_positions, n_embd, n_layer,
//                          n_head, afn, resid_pdrop, embd_pdrop, attn_pdrop, layer_norm_epsilon,
//                          initializer_range, ...) plus kiso's extras: n_inner, kiso_norm
//   DIR/model.safetensors  F32 weights under HF `openai-gpt` names, Conv1D [in, out] layout,
//                          the tied LM head stored once (as tokens_embed.weight),
//                          __metadata__ {"format": "pt"}
//
// Loading is strict: config keys are type-checked and unknown keys refused, with the closest
// known key as a hint; the keys transformers writes for openai-gpt (architectures, dtype,
// bos/eos/pad_token_id, summary_*, n_special, task_specific_params, the generation defaults, ...)
// are read past knowingly, and the ones that say something about the network are checked:
// n_ctx must equal n_positions, tie_word_embeddings must be true, model_type "openai-gpt",
// dtype / torch_dtype float32, float16 or bfloat16 (16-bit tensors are widened to f32 on load).
// The config is validated (gpt/config.h: every field, and the parameter bytes against the memory
// budget) before a tensor is made; every tensor must be present with its exact shape and finite
// (no NaN, no ±inf), and no other tensor may be in the file, each error naming the tensor. A
// refused file leaves the model unchanged. Names may carry transformers' "transformer." prefix,
// and a separately stored lm_head.weight must equal the token embedding. So a directory written
// by transformers' OpenAIGPTLMHeadModel.save_pretrained (OpenAI's released GPT-1 among them)
// loads as it is. What it is not: the training state (optimizer moments, step, data position),
// which the trainer saves beside the model; nor the tokenizer files (gpt/tokenizer.h); nor a
// reader of sharded (model.safetensors.index.json) or pickled (pytorch_model.bin) weights.
#pragma once

#include <string>

#include "gpt/json.h"
#include "gpt/model.h"
#include "gpt/safetensors.h"

namespace kiso {

Json config_to_json(const GPTConfig& config);
// `what` names the source in errors (e.g. "run/model/config.json").
GPTConfig config_from_json(const Json& json, const std::string& what);

// Creates `dir` if needed and writes config.json and model.safetensors, each atomically.
void save_model(const std::string& dir, GPT& model);
// Reads a model directory into a new f32 model, its parameters on `device`.
GPT load_model(const std::string& dir, Device device = Device::cpu);
// Copies the tensors of a safetensors file into `model`'s parameters (names checked, see above).
void load_weights(GPT& model, const safetensors::File& file, const std::string& what);

// Throws when float tensor `t` holds a NaN or an infinity, naming `what` (the file), the tensor,
// the first bad element and its value:
//   "run/model/model.safetensors: tensor 'h.0.attn.c_attn.weight' holds a non-finite value:
//    element [1, 3] (flat index 27) is nan; weights must be finite (...)"
// Integer tensors pass. load_weights runs it on every tensor; a task head's loader can too.
void check_finite(const Tensor& t, const std::string& name, const std::string& what);

}  // namespace kiso
