// gpt/checkpoint.cpp — model directories: config.json <-> GPTConfig, model.safetensors <->
// the model's parameters (see checkpoint.h for the layout and the rules).
#include "gpt/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>
#include <vector>

#include "base/size.h"
#include "gpt/atomic_file.h"

namespace kiso {

// ---- config.json ----

// Activation names. Hugging Face's openai-gpt maps afn "gelu" to the tanh approximation
// (its ACT_FNS has "gelu": gelu_new), which is GPT-1's, so kiso writes "gelu" for it and also
// reads "gelu_new" (the same function under its GPT-2 name). The exact erf form has no
// openai-gpt name: kiso writes "gelu_exact", which Hugging Face will not load.
static std::string afn_name(GeluKind kind) { return kind == GeluKind::tanh ? "gelu" : "gelu_exact"; }

Json config_to_json(const GPTConfig& c) {
  return Json{
      {"architectures", {"OpenAIGPTLMHeadModel"}},
      {"model_type", "openai-gpt"},
      {"vocab_size", c.vocab_size},
      {"n_positions", c.n_ctx},
      {"n_embd", c.block.n_embd},
      {"n_layer", c.n_layer},
      {"n_head", c.block.n_head},
      {"afn", afn_name(c.block.activation)},
      {"resid_pdrop", c.block.resid_pdrop},
      {"embd_pdrop", c.embd_pdrop},
      {"attn_pdrop", c.block.attn_pdrop},
      {"layer_norm_epsilon", c.block.layer_norm_epsilon},
      {"initializer_range", c.initializer_range},
      {"n_inner", c.block.n_inner},                                // kiso: HF's openai-gpt fixes 4·n_embd
      {"kiso_norm", c.block.norm == Norm::post ? "post" : "pre"},  // kiso: GPT-1 post-LN or GPT-2 pre-LN
  };
}

// ---- the keys of config.json ----
//
// A config.json may come from kiso or from transformers' save_pretrained (any version: older
// ones wrote every attribute of PretrainedConfig, newer ones a handful). Each key is in one of
// three groups, and a key in none of them is refused with the closest known key as a hint, so
// that "n_embed" stays an error instead of a silently ignored line.

// What kiso reads: the network's shape and its dropout, plus the keys checked for agreement with
// kiso's model (n_ctx, tie_word_embeddings, model_type, dtype / torch_dtype, pruned_heads).
static const std::set<std::string> kReadKeys = {
    "vocab_size", "n_positions", "n_ctx", "n_embd", "n_layer", "n_head", "afn", "resid_pdrop", "embd_pdrop",
    "attn_pdrop", "layer_norm_epsilon", "initializer_range", "n_inner", "kiso_norm", "tie_word_embeddings",
    "model_type", "dtype", "torch_dtype", "pruned_heads"};

// Keys transformers writes for openai-gpt that leave the network unchanged, read past knowingly:
static const std::set<std::string> kIgnoredKeys = {
    // bookkeeping: which class and library wrote the file
    "architectures", "transformers_version", "_name_or_path", "_commit_hash", "finetuning_task", "tokenizer_class",
    "prefix",
    // the token ids transformers' generation and padding use; kiso's come from its tokenizer files
    "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id",
    // OpenAIGPTDoubleHeadsModel's multiple-choice head (a fine-tuned kiso model keeps its head in
    // head.safetensors and task.json) and the labels of a classification head
    "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
    "summary_last_dropout", "id2label", "label2id", "num_labels", "problem_type",
    // GPT-1's released config: n_special counted extra embedding rows in pytorch-pretrained-bert
    // (0 there; transformers no longer reads it: the rows are vocab_size, checked against the
    // tensor), and predict_special_tokens only said whether the LM head scores them
    "n_special", "predict_special_tokens",
    // what the forward pass returns, and how (not what it computes)
    "return_dict", "output_hidden_states", "output_attentions", "torchscript", "use_cache", "output_past",
    "gradient_checkpointing", "chunk_size_feed_forward", "use_bfloat16",
    // encoder-decoder plumbing; openai-gpt is a decoder alone and transformers writes the defaults
    "is_encoder_decoder", "is_decoder", "add_cross_attention", "tie_encoder_decoder",
    "cross_attention_hidden_size",
    // generation defaults (sampling is kiso sample's options), and the hub's per-task defaults
    "task_specific_params", "max_length", "min_length", "do_sample", "early_stopping", "num_beams",
    "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
    "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
    "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
    "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
    "begin_suppress_tokens"};

// The number of single-character edits that turn a into b (Levenshtein), for the typo hint.
static size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// ` (did you mean "n_embd"?)` for the closest key kiso knows, within 3 edits; "" otherwise.
static std::string closest_key_hint(const std::string& key) {
  std::string best;
  size_t best_distance = 4;
  for (const auto* keys : {&kReadKeys, &kIgnoredKeys})
    for (const std::string& known : *keys)
      if (size_t d = edit_distance(key, known); d < best_distance) best = known, best_distance = d;
  return best.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", best);
}

// dtype / torch_dtype: the type transformers saved the weights in. kiso trains and computes in
// f32; float16 and bfloat16 weights are widened to f32 on load, exactly (gpt/safetensors.h).
static void check_weight_dtype(const Json& j, const char* key, const std::string& what) {
  if (!has_key(j, key) || j[key].is_null()) return;
  std::string dtype = get_string(j, key, what);
  if (dtype.rfind("torch.", 0) == 0) dtype = dtype.substr(6);  // some versions wrote "torch.float16"
  check(dtype == "float32" || dtype == "float16" || dtype == "bfloat16", what.c_str(),
        "{} \"{}\" is not a weight type kiso reads: expected \"float32\", or \"float16\" / \"bfloat16\" (widened to "
        "float32 on load)",
        key, get_string(j, key, what));
}

GPTConfig config_from_json(const Json& j, const std::string& what) {
  check(j.is_object(), what.c_str(), "expected a JSON object, found {}", describe_json(j));
  for (const auto& item : j.items())
    check(kReadKeys.count(item.key()) || kIgnoredKeys.count(item.key()), what.c_str(),
          "unknown key \"{}\"{}; kiso reads vocab_size, n_positions, n_embd, n_layer, n_head, afn, *_pdrop, "
          "layer_norm_epsilon, initializer_range, n_inner, kiso_norm, and the keys transformers writes for "
          "openai-gpt",
          item.key(), closest_key_hint(item.key()));
  if (has_key(j, "model_type"))
    check(get_string(j, "model_type", what) == "openai-gpt", what.c_str(),
          "model_type \"{}\" is not GPT-1's: kiso loads \"openai-gpt\" models (GPT-2's \"gpt2\" has another layout: "
          "pre-LN blocks, a final LayerNorm, other tensor names)",
          get_string(j, "model_type", what));
  if (has_key(j, "tie_word_embeddings"))
    check(get_bool(j, "tie_word_embeddings", what), what.c_str(),
          "tie_word_embeddings is false, but kiso's LM head is always the token embedding (GPT-1 ties them); a "
          "model with its own lm_head.weight cannot be loaded");
  check_weight_dtype(j, "dtype", what);
  check_weight_dtype(j, "torch_dtype", what);
  if (has_key(j, "pruned_heads"))
    check(j["pruned_heads"].is_object() && j["pruned_heads"].empty(), what.c_str(),
          "pruned_heads is {}, but kiso's attention has all n_head heads in every layer (a pruned model's tensors "
          "have other shapes)",
          j["pruned_heads"].dump());

  GPTConfig c;
  c.vocab_size = get_int(j, "vocab_size", what);
  c.n_ctx = get_int(j, "n_positions", what);
  if (has_key(j, "n_ctx"))
    check(get_int(j, "n_ctx", what) == c.n_ctx, what.c_str(), "n_ctx ({}) differs from n_positions ({})",
          get_int(j, "n_ctx", what), c.n_ctx);
  BlockConfig& b = c.block;
  b.n_embd = get_int(j, "n_embd", what);
  c.n_layer = get_int(j, "n_layer", what);
  b.n_head = get_int(j, "n_head", what);
  // n_inner absent or null means Hugging Face's 4 · n_embd; the product is checked, since n_embd
  // comes from the file (a non-positive n_embd is left for validate to name).
  b.n_inner = has_key(j, "n_inner") && !j["n_inner"].is_null() ? get_int(j, "n_inner", what)
              : b.n_embd > 0 ? mul_size(4, b.n_embd, what.c_str(), "the default n_inner (4 × n_embd)")
                             : 0;
  // Defaults below are Hugging Face's OpenAIGPTConfig defaults, for configs that omit a key.
  std::string afn = has_key(j, "afn") ? get_string(j, "afn", what) : "gelu";
  check(afn == "gelu" || afn == "gelu_new" || afn == "gelu_exact", what.c_str(),
        "afn \"{}\" is not supported; expected \"gelu\" or \"gelu_new\" (tanh approximation, GPT-1's) or "
        "\"gelu_exact\" (erf)",
        afn);
  b.activation = afn == "gelu_exact" ? GeluKind::erf : GeluKind::tanh;
  b.resid_pdrop = has_key(j, "resid_pdrop") ? get_number(j, "resid_pdrop", what) : 0.1;
  c.embd_pdrop = has_key(j, "embd_pdrop") ? get_number(j, "embd_pdrop", what) : 0.1;
  b.attn_pdrop = has_key(j, "attn_pdrop") ? get_number(j, "attn_pdrop", what) : 0.1;
  b.layer_norm_epsilon = has_key(j, "layer_norm_epsilon") ? get_number(j, "layer_norm_epsilon", what) : 1e-5;
  c.initializer_range = has_key(j, "initializer_range") ? get_number(j, "initializer_range", what) : 0.02;
  std::string norm = has_key(j, "kiso_norm") ? get_string(j, "kiso_norm", what) : "post";
  check(norm == "post" || norm == "pre", what.c_str(), "kiso_norm \"{}\" must be \"post\" or \"pre\"", norm);
  b.norm = norm == "post" ? Norm::post : Norm::pre;
  try {
    c.validate();
  } catch (const Error& e) {
    fail(what.c_str(), "{}", e.what());
  }
  return c;
}

// ---- weights ----

namespace {

// The first element of x (f32 or f64, CPU) that is NaN or ±inf, or -1 when there is none.
template <class T> int64_t first_non_finite(const Tensor& x) {
  const T* p = x.data<T>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i)
    if (!std::isfinite(p[i])) return i;
  return -1;
}

// "[1, 3]": the row-major index of flat element i of `shape`.
std::string index_str(int64_t i, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) index[d] = i % shape[d], i /= shape[d];
  std::string out = "[";
  for (size_t d = 0; d < index.size(); ++d) out += (d ? ", " : "") + std::to_string(index[d]);
  return out + "]";
}

}  // namespace

void check_finite(const Tensor& t, const std::string& name, const std::string& what) {
  if (t.dtype() != DType::f32 && t.dtype() != DType::f64) return;  // integers are always finite
  Tensor host = t.to(Device::cpu);
  int64_t i = t.dtype() == DType::f32 ? first_non_finite<float>(host) : first_non_finite<double>(host);
  if (i < 0) return;
  double value = t.dtype() == DType::f32 ? double(host.data<float>()[i]) : host.data<double>()[i];
  fail(what.c_str(),
       "tensor '{}' holds a non-finite value: element {} (flat index {}) is {}; weights must be finite (was it saved "
       "from a run that diverged?)",
       name, index_str(i, t.shape()), i, value);
}

void load_weights(GPT& model, const safetensors::File& file, const std::string& what) {
  // Every check comes before the first copy, so a refused file leaves the model as it was.
  const char* op = what.c_str();
  std::map<std::string, Tensor> stored;
  for (const auto& [raw, tensor] : file.tensors) {
    std::string name = raw.rfind("transformer.", 0) == 0 ? raw.substr(std::strlen("transformer.")) : raw;
    check(stored.emplace(name, tensor).second, op, "tensor '{}' appears twice (with and without 'transformer.')", name);
  }
  // Every weight finite, in the file's order, before any is compared or copied: a NaN would
  // otherwise load silently and print "loss nan" (or make a tied head "differ" from itself).
  for (const auto& [name, tensor] : file.tensors) check_finite(tensor, name, what);
  // The LM head is tied to the token embedding: a file that stores it separately must hold
  // the same numbers.
  if (auto head = stored.find("lm_head.weight"); head != stored.end()) {
    auto tokens = stored.find("tokens_embed.weight");
    check(tokens != stored.end() && head->second.shape() == tokens->second.shape() &&
              head->second.to_vector<float>() == tokens->second.to_vector<float>(),
          op, "lm_head.weight differs from tokens_embed.weight; kiso's LM head is tied to the token embedding");
    stored.erase(head);
  }
  std::vector<std::pair<Tensor, Tensor>> copies;  // (parameter, file tensor)
  for (const NamedParameter& p : model.parameters()) {
    auto it = stored.find(p.name);
    check(it != stored.end(), op, "missing tensor '{}' (shape {})", p.name, shape_str(p.variable->shape()));
    const Tensor& t = it->second;
    check(t.shape() == p.variable->shape(), op, "tensor '{}' has shape {}, but the config needs {}", p.name,
          shape_str(t.shape()), shape_str(p.variable->shape()));
    check(t.dtype() == DType::f32, op, "tensor '{}' is {}; model weights are F32", p.name, to_string(t.dtype()));
    copies.emplace_back(p.variable->value(), t);
    stored.erase(it);
  }
  if (!stored.empty()) fail(op, "unexpected tensor '{}' (not a parameter of this config)", stored.begin()->first);
  // Copy into the existing storage: a parameter keeps its identity (optimizers may hold it).
  for (auto& [dst, t] : copies) {
    Tensor src = to_dtype(t, dst.dtype());
    std::memcpy(dst.raw_data(), src.raw_data(), size_t(src.numel()) * dtype_size(src.dtype()));
  }
}

// ---- directories ----

void save_model(const std::string& dir, GPT& model) {
  try {
    std::filesystem::create_directories(dir);
  } catch (const std::filesystem::filesystem_error& e) {
    fail("save_model", "cannot create the model directory '{}': {}", dir, e.code().message());
  }
  write_file_atomic(dir + "/config.json", config_to_json(model.config).dump(2) + "\n");
  safetensors::NamedTensors tensors;
  for (const NamedParameter& p : model.parameters())  // from either device: the file holds host copies
    tensors.emplace_back(p.name, to_dtype(p.variable->value().to(Device::cpu), DType::f32));
  safetensors::save(dir + "/model.safetensors", tensors, {{"format", "pt"}});
}

GPT load_model(const std::string& dir, Device device) {
  std::string config_path = dir + "/config.json";
  GPTConfig config = config_from_json(parse_json_strict(read_file(config_path), config_path), config_path);
  GPT model(config);  // zero weights, overwritten right below
  std::string weights_path = dir + "/model.safetensors";
  // transformers may have saved the weights in a form kiso does not read: say which, and how to
  // convert, rather than "cannot open model.safetensors".
  if (!std::filesystem::exists(weights_path)) {
    for (const char* other : {"model.safetensors.index.json", "pytorch_model.bin", "tf_model.h5"})
      check(!std::filesystem::exists(dir + "/" + other), weights_path.c_str(),
            "not found, but {} is: kiso reads the weights from one model.safetensors file (save them once with "
            "transformers' save_pretrained(DIR, max_shard_size=\"10GB\"), which writes it)",
            other);
  }
  load_weights(model, safetensors::load(weights_path), weights_path);
  move_parameters(model.parameters(), device);
  return model;
}

}  // namespace kiso
