// gpt/checkpoint.cpp — model directories: config.json <-> GPTConfig, model.safetensors <->
// the model's parameters (see checkpoint.h for the layout and the rules).
#include "gpt/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <set>

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

GPTConfig config_from_json(const Json& j, const std::string& what) {
  check(j.is_object(), what.c_str(), "expected a JSON object, found {}", describe_json(j));
  // Keys Hugging Face writes into openai-gpt configs that do not change the network kiso builds.
  static const std::set<std::string> ignored = {
      "architectures", "model_type", "transformers_version", "torch_dtype", "predict_special_tokens",
      "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
      "task_specific_params", "id2label", "label2id", "n_special"};
  static const std::set<std::string> known = {
      "vocab_size", "n_positions", "n_ctx", "n_embd", "n_layer", "n_head", "afn", "resid_pdrop", "embd_pdrop",
      "attn_pdrop", "layer_norm_epsilon", "initializer_range", "n_inner", "kiso_norm"};
  for (const auto& item : j.items())
    check(known.count(item.key()) || ignored.count(item.key()), what.c_str(),
          "unknown key \"{}\" (a typo? kiso reads: vocab_size, n_positions, n_embd, n_layer, n_head, afn, *_pdrop, "
          "layer_norm_epsilon, initializer_range, n_inner, kiso_norm)",
          item.key());

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
  // Hugging Face's default n_inner is 4·n_embd, computed without overflow (n_embd <= 0 is refused by validate).
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

void load_weights(GPT& model, const safetensors::File& file, const std::string& what) {
  const char* op = what.c_str();
  std::map<std::string, Tensor> stored;
  for (const auto& [raw, tensor] : file.tensors) {
    std::string name = raw.rfind("transformer.", 0) == 0 ? raw.substr(std::strlen("transformer.")) : raw;
    check(stored.emplace(name, tensor).second, op, "tensor '{}' appears twice (with and without 'transformer.')", name);
  }
  // The LM head is tied to the token embedding: a file that stores it separately must hold
  // the same numbers.
  if (auto head = stored.find("lm_head.weight"); head != stored.end()) {
    auto tokens = stored.find("tokens_embed.weight");
    check(tokens != stored.end() && head->second.shape() == tokens->second.shape() &&
              head->second.to_vector<float>() == tokens->second.to_vector<float>(),
          op, "lm_head.weight differs from tokens_embed.weight; kiso's LM head is tied to the token embedding");
    stored.erase(head);
  }
  for (const NamedParameter& p : model.parameters()) {
    auto it = stored.find(p.name);
    check(it != stored.end(), op, "missing tensor '{}' (shape {})", p.name, shape_str(p.variable->shape()));
    const Tensor& t = it->second;
    check(t.shape() == p.variable->shape(), op, "tensor '{}' has shape {}, but the config needs {}", p.name,
          shape_str(t.shape()), shape_str(p.variable->shape()));
    check(t.dtype() == DType::f32, op, "tensor '{}' is {}; model weights are F32", p.name, to_string(t.dtype()));
    // Copy into the existing storage: a parameter keeps its identity (optimizers may hold it).
    Tensor dst = p.variable->value();
    Tensor src = to_dtype(t, dst.dtype());
    std::memcpy(dst.raw_data(), src.raw_data(), size_t(src.numel()) * dtype_size(src.dtype()));
    stored.erase(it);
  }
  if (!stored.empty()) fail(op, "unexpected tensor '{}' (not a parameter of this config)", stored.begin()->first);
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
  load_weights(model, safetensors::load(weights_path), weights_path);
  move_parameters(model.parameters(), device);
  return model;
}

}  // namespace kiso
