// gpt/hf_export.cpp — a fine-tuned model as a transformers directory (see hf_export.h for the
// mapping of kiso's head onto transformers' two heads, and the bias fold).
#include "gpt/hf_export.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"

namespace kiso {

HfHead parse_hf_head(const std::string& name) {
  if (name == "sequence-classification") return HfHead::sequence_classification;
  if (name == "double-heads") return HfHead::double_heads;
  fail("export", "unknown head form '{}'; expected sequence-classification or double-heads", name);
}

std::string to_string(HfHead head) {
  return head == HfHead::sequence_classification ? "sequence-classification" : "double-heads";
}

HfHead default_hf_head(TaskKind kind) {
  return kind == TaskKind::classification || kind == TaskKind::entailment ? HfHead::sequence_classification
                                                                          : HfHead::double_heads;
}

std::string hf_class_name(HfHead head) {
  return head == HfHead::sequence_classification ? "OpenAIGPTForSequenceClassification" : "OpenAIGPTDoubleHeadsModel";
}

// ---- the fold ----

std::vector<double> fold_bias(const std::vector<double>& A, int64_t K, int64_t C, const std::vector<double>& beta,
                              const std::vector<double>& b) {
  // G = A Aᵀ (K, K), symmetric and positive semi-definite.
  std::vector<double> G(size_t(K * K), 0.0);
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < K; ++j)
      for (int64_t c = 0; c < C; ++c) G[size_t(i * K + j)] += A[size_t(i * C + c)] * A[size_t(j * C + c)];
  double scale = 0;
  for (int64_t i = 0; i < K; ++i) scale = std::max(scale, G[size_t(i * K + i)]);
  // Cholesky G = L Lᵀ, in place in the lower triangle. A pivot near 0 means the classes' rows of A
  // are dependent: no β' moves them by b independently. Nearly dependent is refused too (pivot
  // below 1e-6 of the largest diagonal entry, a condition number of A above ~1e3): β' − β grows as
  // |b| / σ_min(A), and transformers' f32 product A h' would lose b to cancellation.
  std::vector<double> L = G;
  for (int64_t j = 0; j < K; ++j) {
    double d = L[size_t(j * K + j)];
    for (int64_t k = 0; k < j; ++k) d -= L[size_t(j * K + k)] * L[size_t(j * K + k)];
    check(d > 1e-6 * scale, "export",
          "the head's weight W_y has {} classes whose columns are (nearly) linearly dependent (W_yᵀ W_y is singular or nearly: "
          "pivot {} of {} is {:.3g}), so no LayerNorm bias can carry its bias b into "
          "OpenAIGPTForSequenceClassification (which has no bias); export with --as double-heads, which keeps b "
          "exactly",
          K, j, K, d);
    L[size_t(j * K + j)] = std::sqrt(d);
    for (int64_t i = j + 1; i < K; ++i) {
      double s = L[size_t(i * K + j)];
      for (int64_t k = 0; k < j; ++k) s -= L[size_t(i * K + k)] * L[size_t(j * K + k)];
      L[size_t(i * K + j)] = s / L[size_t(j * K + j)];
    }
  }
  // z = G⁻¹ b: forward (L y = b), then backward (Lᵀ z = y) substitution.
  std::vector<double> z(b);
  for (int64_t i = 0; i < K; ++i) {
    for (int64_t k = 0; k < i; ++k) z[size_t(i)] -= L[size_t(i * K + k)] * z[size_t(k)];
    z[size_t(i)] /= L[size_t(i * K + i)];
  }
  for (int64_t i = K; i-- > 0;) {
    for (int64_t k = i + 1; k < K; ++k) z[size_t(i)] -= L[size_t(k * K + i)] * z[size_t(k)];
    z[size_t(i)] /= L[size_t(i * K + i)];
  }
  std::vector<double> out(beta);  // β' = β + Aᵀ z
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < K; ++i) out[size_t(c)] += A[size_t(i * C + c)] * z[size_t(i)];
  return out;
}

// ---- tokenizer.json ----

// kiso's byte-level BPE in the `tokenizers` library's format (what GPT-2's tokenizer.json holds:
// a BPE model with no prefixes or suffixes, ByteLevel pre-tokenizer and decoder), plus a
// TemplateProcessing post-processor that adds START / DELIM / EXTRACT as gpt/tasks.h frames a text
// or a pair. The vocabulary and merges are read back from the texts Tokenizer::save writes, so the
// tokens are in GPT-2's byte-to-unicode spelling that both formats share.
static Json tokenizer_json(const Tokenizer& tok, const SpecialIds& s) {
  std::array<std::string, 3> text = tok.to_text();  // vocab.json, merges.txt, special_tokens.json
  Json vocab = parse_json_strict(text[0], "vocab.json");
  Json merges = Json::array();
  size_t at = 0;
  for (size_t end; (end = text[1].find('\n', at)) != std::string::npos; at = end + 1) {
    std::string line = text[1].substr(at, end - at);
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    size_t space = line.find(' ');
    merges.push_back({line.substr(0, space), line.substr(space + 1)});
  }
  const bool gpt1 = tok.kind() == TokenizerKind::gpt1;
  Json added = Json::array();
  if (gpt1 && tok.unknown_id() >= 0)  // transformers marks GPT-1's <unk> special, as its own save does
    added.push_back({{"id", tok.unknown_id()}, {"content", "<unk>"}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  for (const char* name : {"<|endoftext|>", "<|start|>", "<|delim|>", "<|extract|>"})
    added.push_back({{"id", tok.special(name)}, {"content", name}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  auto special = [](const char* name) { return Json{{"SpecialToken", {{"id", name}, {"type_id", 0}}}}; };
  auto sequence = [](const char* which) { return Json{{"Sequence", {{"id", which}, {"type_id", 0}}}}; };
  Json specials = Json::object();
  for (auto [name, id] : {std::pair{"<|start|>", s.start}, {"<|delim|>", s.delim}, {"<|extract|>", s.extract}})
    specials[name] = {{"id", name}, {"ids", {id}}, {"tokens", {name}}};
  // The text pipeline of each kind, as transformers' own tokenizer.json writes it: GPT-2's bytes
  // (GPT2Tokenizer), or GPT-1's lowercasing, word splitting and </w> ends (OpenAIGPTTokenizer).
  Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  Json normalizer = gpt1 ? Json{{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                                {"strip_accents", nullptr}, {"lowercase", true}}
                         : Json(nullptr);
  Json pre_tokenizer = gpt1 ? Json{{"type", "BertPreTokenizer"}} : byte_level;
  Json decoder = gpt1 ? Json{{"type", "BPEDecoder"}, {"suffix", "</w>"}} : byte_level;
  Json unk = gpt1 && tok.unknown_id() >= 0 ? Json("<unk>") : Json(nullptr);
  return Json{
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", normalizer},
      {"pre_tokenizer", pre_tokenizer},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {special("<|start|>"), sequence("A"), special("<|extract|>")}},
        {"pair", {special("<|start|>"), sequence("A"), special("<|delim|>"), sequence("B"), special("<|extract|>")}},
        {"special_tokens", specials}}},
      {"decoder", decoder},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", unk}, {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", gpt1 ? "</w>" : ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
        {"vocab", vocab}, {"merges", merges}}}};
}

// ---- the export ----

namespace {

std::vector<double> to_f64(const Tensor& t) { return to_dtype(t.to(Device::cpu), DType::f64).to_vector<double>(); }

Tensor f32_tensor(const std::vector<double>& v, const Shape& shape) {
  return from_vector(std::vector<float>(v.begin(), v.end()), shape);
}

// What transformers cannot express of kiso's backbone, refused by name.
void check_backbone(const GPTConfig& c) {
  check(c.block.norm == Norm::post, "export",
        "the model is pre-LN (kiso_norm \"pre\"); transformers' openai-gpt is post-LN only, so no transformers class "
        "runs this network");
  check(c.block.activation == GeluKind::tanh, "export",
        "the model uses afn \"gelu_exact\" (erf); transformers' openai-gpt has only the tanh GELU (\"gelu\")");
  check(c.block.n_inner == 4 * c.block.n_embd, "export",
        "n_inner is {}; transformers' openai-gpt fixes the MLP width at 4 × n_embd = {}", c.block.n_inner,
        4 * c.block.n_embd);
}

}  // namespace

HfExport hf_export(FinetunedModel& m, HfHead head) {
  const GPTConfig& cfg = m.model.config;
  check_backbone(cfg);
  const TaskInfo& info = m.info;
  bool mc = info.kind == TaskKind::multiple_choice;
  check(!(mc && head == HfHead::sequence_classification), "export",
        "a multiple-choice model exports as double-heads only (OpenAIGPTDoubleHeadsModel scores each candidate); "
        "drop --as or give --as double-heads");
  int64_t C = cfg.block.n_embd, L = cfg.n_layer;
  int64_t K = mc ? 1 : int64_t(info.labels.size());  // outputs of the head
  std::vector<double> W = to_f64(m.head.linear.weight.value());  // (C, K): kiso's Linear is (in, out)
  std::vector<double> b = to_f64(m.head.linear.bias.value());    // (K,)
  std::vector<double> A(size_t(K * C));                          // A = W_yᵀ (K, C): torch's Linear layout
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) A[size_t(k * C + c)] = W[size_t(c * K + k)];
  // Similarity reads the head once per order in transformers: each order carries half the bias.
  if (info.kind == TaskKind::similarity)
    for (double& x : b) x /= 2;

  check(head != HfHead::double_heads || mc || K <= C, "export",
        "the head has {} classes, more than n_embd = {}: OpenAIGPTDoubleHeadsModel's summary (C, C) cannot hold them",
        K, C);

  HfExport e;
  e.head = head;
  std::string last_ln = "h." + std::to_string(L - 1) + ".ln_2.bias";  // post-LN: the final hidden state's LN
  for (const NamedParameter& p : m.model.parameters()) {
    Tensor value = to_dtype(p.variable->value().to(Device::cpu), DType::f32);
    std::string name = "transformer." + p.name;
    // OpenAIGPTDoubleHeadsModel ties tokens_embed to lm_head (not the other way round), and its
    // save_pretrained keeps lm_head.weight.
    if (head == HfHead::double_heads && p.name == "tokens_embed.weight") name = "lm_head.weight";
    if (head == HfHead::sequence_classification && p.name == last_ln) {
      std::vector<double> beta = to_f64(value);
      std::vector<double> folded = fold_bias(A, K, C, beta, b);
      value = f32_tensor(folded, {C});
      // What the f32 rounding of β' leaves of the fold: A β'_f32 − (A β + b), in f64.
      std::vector<double> stored = to_f64(value);
      for (int64_t k = 0; k < K; ++k) {
        double r = -b[size_t(k)];
        for (int64_t c = 0; c < C; ++c) r += A[size_t(k * C + c)] * (stored[size_t(c)] - beta[size_t(c)]);
        e.fold_residual = std::max(e.fold_residual, std::abs(r));
      }
    }
    e.tensors.emplace_back(name, value);
  }
  if (head == HfHead::sequence_classification) {
    e.tensors.emplace_back("score.weight", f32_tensor(A, {K, C}));  // (classes, C), no bias
  } else if (mc) {
    e.tensors.emplace_back("multiple_choice_head.summary.weight", f32_tensor(A, {1, C}));  // (1, C)
    e.tensors.emplace_back("multiple_choice_head.summary.bias", f32_tensor(b, {1}));
  } else {
    std::vector<double> S(size_t(C * C), 0.0), sb(size_t(C), 0.0);  // (C, C): rows 0..K-1 are W_yᵀ
    std::copy(A.begin(), A.end(), S.begin());
    std::copy(b.begin(), b.end(), sb.begin());
    e.tensors.emplace_back("multiple_choice_head.summary.weight", f32_tensor(S, {C, C}));
    e.tensors.emplace_back("multiple_choice_head.summary.bias", f32_tensor(sb, {C}));
  }
  std::sort(e.tensors.begin(), e.tensors.end(), [](const auto& x, const auto& y) { return x.first < y.first; });

  // config.json: the backbone as kiso writes it, then what the head's class reads.
  Json& j = e.config;
  j = config_to_json(cfg);
  j["architectures"] = {hf_class_name(head)};
  j["pad_token_id"] = info.special.pad;  // sequence-classification reads the rightmost token that is not this
  j["tie_word_embeddings"] = true;
  j["summary_type"] = "cls_index";  // the double heads read mc_token_ids
  j["summary_use_proj"] = true;
  j["summary_activation"] = nullptr;
  j["summary_first_dropout"] = info.head_dropout;  // kiso's dropout before W_y (inactive in eval)
  // Double heads: num_labels is forced to 1 on load; the class outputs come from a (C, C) summary.
  j["summary_proj_to_labels"] = !(head == HfHead::double_heads && !mc);
  Json id2label = Json::object(), label2id = Json::object();
  if (head == HfHead::sequence_classification) {
    for (size_t k = 0; k < info.labels.size(); ++k) {
      id2label[std::to_string(k)] = info.labels[k];
      label2id[info.labels[k]] = int64_t(k);
    }
  } else {  // what transformers writes for num_labels = 1; the labels are in task_specific_params.kiso
    id2label["0"] = "LABEL_0";
    label2id["LABEL_0"] = 0;
  }
  j["id2label"] = id2label;
  j["label2id"] = label2id;
  std::string read;
  if (mc) read = "mc_logits (B, K) at mc_token_ids = the EXTRACT positions are the candidates' scores";
  else if (head == HfHead::double_heads && info.kind == TaskKind::similarity)
    read = "input_ids (B, 2, T): the orders (A, B) and (B, A); mc_logits.sum(1)[:, :" + std::to_string(K) +
           "] are the logits";
  else if (head == HfHead::double_heads)
    read = "input_ids (B, 1, T); mc_logits[:, 0, :" + std::to_string(K) + "] are the logits";
  else if (info.kind == TaskKind::similarity)
    read = "the orders (A, B) and (B, A) as two rows; the sum of their logits is the example's";
  else read = "logits (B, classes), read at the rightmost token that is not pad_token_id (the EXTRACT)";
  j["task_specific_params"] = {
      {"kiso",
       {{"task", to_string(info.kind)},
        {"head", to_string(head)},
        {"labels", info.labels},
        {"candidates", info.candidates},
        {"max_len", info.max_len},
        {"special",
         {{"start", info.special.start}, {"delim", info.special.delim}, {"extract", info.special.extract},
          {"pad", info.special.pad}}},
        {"read", read}}}};

  // tokenizer_config.json: transformers' class for the tokenizer's kind (GPT2Tokenizer for kiso's
  // byte-level BPE, OpenAIGPTTokenizer for GPT-1's), and the special tokens (so that encode()
  // keeps "<|extract|>" whole).
  const bool gpt1 = m.tokenizer.kind() == TokenizerKind::gpt1;
  e.tokenizer_json = tokenizer_json(m.tokenizer, info.special);
  e.tokenizer_config = {{"tokenizer_class", std::string(hf_tokenizer_class(m.tokenizer.kind()))},
                        {"model_max_length", info.max_len},  // truncation=True then cuts as kiso does
                        {"bos_token", "<|endoftext|>"},
                        {"eos_token", "<|endoftext|>"},
                        {"unk_token", gpt1 ? "<unk>" : "<|endoftext|>"},
                        {"pad_token", "<|endoftext|>"},
                        {"extra_special_tokens", {"<|start|>", "<|delim|>", "<|extract|>"}}};
  if (!gpt1) e.tokenizer_config["add_prefix_space"] = false;  // a GPT-2 (byte-level) setting only
  return e;
}

void save_hf_export(const std::string& dir, const FinetunedModel& m, const HfExport& e) {
  write_dir_atomic(dir, [&](const std::string& tmp) {
    std::filesystem::create_directories(tmp);  // write_dir_atomic hands over a name, not a directory
    write_file_atomic(tmp + "/config.json", e.config.dump(2) + "\n");
    safetensors::save(tmp + "/model.safetensors", e.tensors, {{"format", "pt"}});
    m.tokenizer.save(tmp);
    write_file_atomic(tmp + "/tokenizer_config.json", e.tokenizer_config.dump(2) + "\n");
    if (!e.tokenizer_json.is_null()) write_file_atomic(tmp + "/tokenizer.json", e.tokenizer_json.dump() + "\n");
  });
}

}  // namespace kiso
